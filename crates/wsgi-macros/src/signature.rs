//! Reading a function's signature: which environ, which form, which
//! return shape. Everything here is syntactic: types are recognised by the
//! last segment of their path (`Environ`, `StartResponse`, `WsgiResponse`,
//! `Option`, `Result`), as written in the signature.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ItemFn, PathArguments, ReturnType, Signature,
    Type, TypePath,
};

/// How the function takes the environ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvironRef {
    /// `&Environ`
    Shared,
    /// `&mut Environ`
    Mut,
}

impl EnvironRef {
    /// The argument passed for `environ`, a `&mut Environ` binding.
    pub(crate) fn arg(self, environ: &Ident) -> TokenStream {
        match self {
            EnvironRef::Shared => quote!(&*#environ),
            EnvironRef::Mut => quote!(&mut *#environ),
        }
    }
}

/// The innermost value a handler returns.
pub(crate) enum Inner {
    /// A `WsgiResponse`.
    Response,
    /// Anything else: a body, converted with `Into<Body>`.
    Body,
}

/// A return type: `[Result<][Option<]inner[>][, E>]`.
pub(crate) struct Output {
    /// For a `Result`: its error type, or the whole `Result` when the
    /// error type is implicit (`io::Result<T>`).
    pub(crate) result: Option<Type>,
    /// For an `Option`: the `Option<…>` type.
    pub(crate) option: Option<Type>,
    pub(crate) inner: Inner,
    /// The inner type.
    pub(crate) inner_ty: Type,
}

/// The span of `ty`'s first token: where generated code that converts a
/// value of that type is placed, so that a type error lands on it.
pub(crate) fn first_span(ty: &Type) -> Span {
    ty.into_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

/// The last path segment of `ty` and its generic arguments, if `ty` is a
/// plain path (`a::b::Name<Args>`).
fn last_segment(ty: &Type) -> Option<(&Ident, &PathArguments)> {
    match ty {
        Type::Path(TypePath { qself: None, path }) => {
            let segment = path.segments.last()?;
            Some((&segment.ident, &segment.arguments))
        }
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

/// Whether `ty` is the plain type `name` (last path segment, no generics).
pub(crate) fn is_named(ty: &Type, name: &str) -> bool {
    matches!(last_segment(ty), Some((ident, PathArguments::None)) if ident == name)
}

/// The type arguments of `ty` if it is `name<…>`.
fn type_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let (ident, arguments) = last_segment(ty)?;
    if ident != name {
        return None;
    }
    match arguments {
        PathArguments::AngleBracketed(args) => Some(
            args.args
                .iter()
                .filter_map(|arg| match arg {
                    GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                })
                .collect(),
        ),
        _ => Some(Vec::new()),
    }
}

/// Reads a return type. `accepted` is appended to every error.
pub(crate) fn output(ty: &Type, accepted: &str) -> syn::Result<Output> {
    let mut result = None;
    let mut option = None;
    let mut current = ty;
    if let Some(args) = type_args(current, "Result") {
        match args.as_slice() {
            [ok] => {
                result = Some(current.clone());
                current = ok;
            }
            [ok, error] => {
                result = Some((*error).clone());
                current = ok;
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    current,
                    format!("unsupported return type: write `Result<T, E>` (or an alias such as `io::Result<T>`)\n{accepted}"),
                ))
            }
        }
    }
    if let Some(args) = type_args(current, "Option") {
        match args.as_slice() {
            [some] => {
                option = Some(current.clone());
                current = some;
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    current,
                    format!("unsupported return type: write `Option<T>`\n{accepted}"),
                ))
            }
        }
    }
    for (wrapper, hint) in [
        (
            "Result",
            "a `Result` goes outside: `Result<Option<T>, E>`, never nested",
        ),
        (
            "Option",
            "an `Option` goes directly inside the `Result`, once",
        ),
    ] {
        if type_args(current, wrapper).is_some() {
            return Err(syn::Error::new_spanned(
                current,
                format!("unsupported return type: {hint}\n{accepted}"),
            ));
        }
    }
    let inner = if is_named(current, "WsgiResponse") {
        Inner::Response
    } else {
        Inner::Body
    };
    Ok(Output {
        result,
        option,
        inner,
        inner_ty: current.clone(),
    })
}

/// The name of a response type that is not a body, when `ty` is one
/// (`Json`, `Html`, `Redirect`, `StatusCode`, a tuple): what a WSGI-form
/// handler cannot return.
pub(crate) fn response_like(ty: &Type) -> Option<String> {
    if let Type::Tuple(tuple) = ty {
        if !tuple.elems.is_empty() {
            return Some(quote!(#tuple).to_string().replace(' ', ""));
        }
    }
    let (ident, _) = last_segment(ty)?;
    ["Json", "Html", "Redirect", "StatusCode"]
        .contains(&ident.to_string().as_str())
        .then(|| quote!(#ty).to_string().replace(' ', ""))
}

/// Reads the environ argument: `&Environ` or `&mut Environ`.
pub(crate) fn environ_arg(arg: &FnArg, position: &str, accepted: &str) -> syn::Result<EnvironRef> {
    let ty = typed(arg, accepted)?;
    if let Type::Reference(reference) = ty {
        if is_named(&reference.elem, "Environ") {
            return Ok(if reference.mutability.is_some() {
                EnvironRef::Mut
            } else {
                EnvironRef::Shared
            });
        }
    }
    let hint = if is_named(ty, "Environ") {
        " (borrowed, not by value)"
    } else {
        ""
    };
    Err(syn::Error::new_spanned(
        ty,
        format!("the {position} argument must be the environ, `&Environ` or `&mut Environ`{hint}\n{accepted}"),
    ))
}

/// The type of a typed argument; a receiver is an error.
pub(crate) fn typed<'a>(arg: &'a FnArg, accepted: &str) -> syn::Result<&'a Type> {
    match arg {
        FnArg::Typed(typed) => Ok(&typed.ty),
        FnArg::Receiver(receiver) => Err(syn::Error::new_spanned(
            receiver,
            format!("methods are not supported: put the attribute on a free function\n{accepted}"),
        )),
    }
}

/// Checks what can be told about the function before its arguments.
pub(crate) fn check_function(sig: &Signature, accepted: &str) -> syn::Result<()> {
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new_spanned(
            unsafety,
            format!("an `unsafe fn` cannot be a handler: it would be called without an `unsafe` block\n{accepted}"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            format!("a variadic function cannot be a handler\n{accepted}"),
        ));
    }
    if let Some(receiver) = sig.receiver() {
        return Err(syn::Error::new_spanned(
            receiver,
            format!("methods are not supported: put the attribute on a free function\n{accepted}"),
        ));
    }
    Ok(())
}

/// The return type, or an error on the signature when there is none.
pub(crate) fn return_type<'a>(sig: &'a Signature, accepted: &str) -> syn::Result<&'a Type> {
    match &sig.output {
        ReturnType::Type(_, ty) => Ok(ty),
        ReturnType::Default => Err(syn::Error::new(
            sig.paren_token.span.close(),
            format!("missing return type: a handler returns its body or its response\n{accepted}"),
        )),
    }
}

/// The generated type's name: `name = …` if given, else the function's
/// name in UpperCamelCase.
pub(crate) fn type_name(item: &ItemFn, name: Option<Ident>, attribute: &str) -> syn::Result<Ident> {
    if let Some(name) = name {
        return Ok(name);
    }
    let fn_name = &item.sig.ident;
    let camel = upper_camel_case(&fn_name.to_string());
    if camel.is_empty() || camel == "Self" || *fn_name == camel {
        return Err(syn::Error::new_spanned(
            fn_name,
            format!(
                "cannot derive a type name from `{fn_name}` (it would be `{camel}`): \
                 name it with `#[{attribute}(name = TypeName)]`"
            ),
        ));
    }
    Ok(Ident::new(&camel, fn_name.span()))
}

/// `hello_world` → `HelloWorld`: each `_`-separated part starts upper
/// case, the rest of it is kept; a raw identifier's `r#` is dropped.
pub(crate) fn upper_camel_case(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    for part in name.split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// The generics of the generated type and its impls: the function's type
/// and const parameters (lifetimes stay on the function, inferred at the
/// call).
pub(crate) struct TypeGenerics {
    /// `<T, const N: usize>` for `struct Name…` (no bounds, no defaults).
    pub(crate) declare: TokenStream,
    /// `<T: Bound, const N: usize>` for `impl…`.
    pub(crate) impl_params: TokenStream,
    /// The same parameters without the angle brackets, to add others.
    pub(crate) impl_list: Vec<TokenStream>,
    /// `<T, N>` for `Name…` and the turbofish of the call.
    pub(crate) args: TokenStream,
    /// The function's where clause, plus `T: 'static` for each `T`.
    pub(crate) where_clause: TokenStream,
    /// `PhantomData<fn() -> (T, …)>`, if there is a type parameter.
    pub(crate) phantom: Option<TokenStream>,
}

impl TypeGenerics {
    pub(crate) fn is_generic(&self) -> bool {
        !self.args.is_empty()
    }
}

pub(crate) fn type_generics(sig: &Signature) -> TypeGenerics {
    let mut declare = Vec::new();
    let mut impl_params = Vec::new();
    let mut args = Vec::new();
    let mut types = Vec::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(ty) => {
                let ident = &ty.ident;
                let bounds = &ty.bounds;
                declare.push(quote!(#ident));
                impl_params.push(if bounds.is_empty() {
                    quote!(#ident)
                } else {
                    quote!(#ident: #bounds)
                });
                args.push(quote!(#ident));
                types.push(ident.clone());
            }
            GenericParam::Const(konst) => {
                let ident = &konst.ident;
                let ty = &konst.ty;
                declare.push(quote!(const #ident: #ty));
                impl_params.push(quote!(const #ident: #ty));
                args.push(quote!(#ident));
            }
            GenericParam::Lifetime(_) => {}
        }
    }
    let mut predicates: Vec<TokenStream> = sig
        .generics
        .where_clause
        .iter()
        .flat_map(|clause| clause.predicates.iter())
        .filter(|predicate| !matches!(predicate, syn::WherePredicate::Lifetime(_)))
        .map(ToTokens::to_token_stream)
        .collect();
    predicates.extend(types.iter().map(|ident| quote!(#ident: 'static)));
    let wrap = |items: Vec<TokenStream>| {
        if items.is_empty() {
            TokenStream::new()
        } else {
            quote!(<#(#items),*>)
        }
    };
    TypeGenerics {
        declare: wrap(declare),
        impl_list: impl_params.clone(),
        impl_params: wrap(impl_params),
        args: wrap(args),
        where_clause: if predicates.is_empty() {
            TokenStream::new()
        } else {
            quote!(where #(#predicates),*)
        },
        phantom: (!types.is_empty())
            .then(|| quote!(::core::marker::PhantomData<fn() -> (#(#types,)*)>)),
    }
}

/// Both results, or every error of the two combined (so one compile run
/// reports both bad arguments).
pub(crate) fn both<A, B>(a: syn::Result<A>, b: syn::Result<B>) -> syn::Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(mut first), Err(second)) => {
            first.combine(second);
            Err(first)
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::upper_camel_case;

    #[test]
    fn function_names_become_upper_camel_case() {
        assert_eq!(upper_camel_case("hello"), "Hello");
        assert_eq!(upper_camel_case("hello_world"), "HelloWorld");
        assert_eq!(upper_camel_case("_private__double_"), "PrivateDouble");
        assert_eq!(upper_camel_case("r#match"), "Match");
        assert_eq!(upper_camel_case("v2_api"), "V2Api");
        assert_eq!(upper_camel_case("serve_HTTP"), "ServeHTTP");
        assert_eq!(upper_camel_case("émoi"), "Émoi");
    }
}
