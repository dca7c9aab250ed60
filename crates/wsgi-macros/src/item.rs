//! What both attributes share: reading the item, the generated type and its
//! plain trait impls, and re-emitting the input with an error.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Attribute, Ident, Item, ItemFn, Visibility};

use crate::signature::TypeGenerics;

/// Parses `item` as a function, or explains on its first keyword that only
/// functions are accepted.
pub(crate) fn function(item: TokenStream, attribute: &str, accepted: &str) -> syn::Result<ItemFn> {
    let parsed: Item = syn::parse2(item)?;
    let keyword: Option<Span> = match &parsed {
        Item::Fn(function) => return Ok(function.clone()),
        Item::Struct(item) => Some(item.struct_token.span),
        Item::Enum(item) => Some(item.enum_token.span),
        Item::Union(item) => Some(item.union_token.span),
        Item::Impl(item) => Some(item.impl_token.span),
        Item::Trait(item) => Some(item.trait_token.span),
        Item::Const(item) => Some(item.const_token.span),
        Item::Static(item) => Some(item.static_token.span),
        Item::Mod(item) => Some(item.mod_token.span),
        Item::Type(item) => Some(item.type_token.span),
        Item::Use(item) => Some(item.use_token.span),
        _ => None,
    };
    let message = format!("#[{attribute}] goes on a function\n{accepted}");
    Err(match keyword {
        Some(span) => syn::Error::new(span, message),
        None => syn::Error::new_spanned(parsed, message),
    })
}

/// The input item unchanged, followed by the error: IDEs keep seeing the
/// function while the error is shown.
pub(crate) fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// What the generated type is named and declared with.
pub(crate) struct Generated<'a> {
    pub(crate) function: &'a ItemFn,
    pub(crate) name: Ident,
    pub(crate) generics: TypeGenerics,
    /// One sentence: what the type is, after "made by `#[…]` from `f`".
    pub(crate) role: &'a str,
    pub(crate) attribute: &'a str,
}

impl Generated<'_> {
    /// `cfg` attributes of the function, so the type exists exactly when the
    /// function does.
    pub(crate) fn cfgs(&self) -> Vec<&Attribute> {
        self.function
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .collect()
    }

    /// The type with its arguments: `Name<T, N>`.
    pub(crate) fn self_ty(&self) -> TokenStream {
        let name = &self.name;
        let args = &self.generics.args;
        quote!(#name #args)
    }

    /// The function's path for a call: `f::<T, N>`.
    pub(crate) fn callee(&self) -> TokenStream {
        let ident = &self.function.sig.ident;
        if self.generics.is_generic() {
            let args = &self.generics.args;
            quote!(#ident::#args)
        } else {
            ident.to_token_stream()
        }
    }

    /// The type's declaration with the function's doc comments, and its
    /// `Clone`, `Copy`, `Default` and `Debug` impls (without bounds, so a
    /// generic one has them too).
    pub(crate) fn declaration(&self) -> TokenStream {
        let Generated {
            function,
            name,
            generics,
            role,
            attribute,
        } = self;
        let vis: &Visibility = &function.vis;
        let fn_name = &function.sig.ident;
        let cfgs = self.cfgs();
        let docs: Vec<&Attribute> = function
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"))
            .collect();
        let separator = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
        let shown = fn_name.to_string();
        let shown = shown.strip_prefix("r#").unwrap_or(&shown);
        let mut note = format!("Made by `#[{attribute}]` from [`{shown}`](fn@{fn_name}): {role}");
        if generics.is_generic() {
            note.push_str(&format!(
                " Build one with `{name}::{}::default()`.",
                generics.args.to_string().replace(' ', "")
            ));
        }
        let declare = &generics.declare;
        let self_ty = self.self_ty();
        let (body, value) = match &generics.phantom {
            Some(phantom) => (
                quote!((#phantom);),
                quote!(#name(::core::marker::PhantomData)),
            ),
            None => (quote!(;), quote!(#name)),
        };
        let display = name.to_string();
        quote! {
            #(#cfgs)*
            #(#docs)*
            #separator
            #[doc = #note]
            #vis struct #name #declare #body

            #(#cfgs)*
            impl #declare ::core::clone::Clone for #self_ty {
                #[inline]
                fn clone(&self) -> Self {
                    *self
                }
            }

            #(#cfgs)*
            impl #declare ::core::marker::Copy for #self_ty {}

            #(#cfgs)*
            impl #declare ::core::default::Default for #self_ty {
                #[inline]
                fn default() -> Self {
                    #value
                }
            }

            #(#cfgs)*
            impl #declare ::core::fmt::Debug for #self_ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(#display)
                }
            }
        }
    }
}
