//! `#[wsgi_handler]`: a function becomes an `Application` and a
//! `Middleware`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Ident, ItemFn};

use crate::args;
use crate::item::{self, Generated};
use crate::signature::{self, EnvironRef, Inner, Output};

/// Appended to every error: what `#[wsgi_handler]` accepts.
pub(crate) const ACCEPTED: &str = "\
accepted by #[wsgi_handler] (on an `async fn` or a plain `fn`):
  fn(environ: &Environ, start_response: StartResponse) -> R   (WSGI form; or `&mut Environ`)
  fn(environ: &Environ) -> WsgiResponse                       (request form; or `&mut Environ`)
where R is a body (anything `Into<Body>`) or a `WsgiResponse`; either return may be wrapped \
as `Option<…>` (`None` passes on), `Result<…, E>` or `Result<Option<…>, E>` with `E: Into<wsgi_core::Error>`;
attribute arguments: `blocking` (run a plain `fn` on the blocking pool), `name = TypeName`";

const ARGUMENTS: &str = "#[wsgi_handler] accepts `blocking` and `name = TypeName`";

/// How the function is called.
enum Form {
    /// `(environ, start_response)`.
    Wsgi,
    /// `(environ)`.
    Request,
}

struct Handler<'a> {
    generated: Generated<'a>,
    form: Form,
    environ: EnvironRef,
    output: Output,
    is_async: bool,
    blocking: bool,
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(attr, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => item::with_error(item, error),
    }
}

fn try_expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let function = item::function(item, "wsgi_handler", ACCEPTED)?;
    let args = args::parse(attr, true, ARGUMENTS)?;
    let handler = read(&function, args)?;
    let declaration = handler.generated.declaration();
    let application = handler.application();
    let middleware = handler.middleware();
    Ok(quote! {
        #function
        #declaration
        #application
        #middleware
    })
}

/// Checks the signature and reads what the generated code needs.
fn read(function: &ItemFn, args: args::Args) -> syn::Result<Handler<'_>> {
    let sig = &function.sig;
    signature::check_function(sig, ACCEPTED)?;
    if let (Some(asyncness), Some(_)) = (&sig.asyncness, args.blocking) {
        return Err(syn::Error::new_spanned(
            asyncness,
            format!("#[wsgi_handler(blocking)] runs a plain `fn` on the blocking pool: remove `async`, or remove `blocking`\n{ACCEPTED}"),
        ));
    }
    let inputs: Vec<_> = sig.inputs.iter().collect();
    let (form, environ) = match inputs.as_slice() {
        [environ] => (
            Form::Request,
            signature::environ_arg(environ, "first", ACCEPTED)?,
        ),
        [environ, start_response] => {
            let environ = signature::environ_arg(environ, "first", ACCEPTED);
            let start_response = start_response_arg(start_response);
            let (environ, ()) = signature::both(environ, start_response)?;
            (Form::Wsgi, environ)
        }
        [] => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("expected 1 or 2 arguments, found none\n{ACCEPTED}"),
            ))
        }
        [_, _, extra @ ..] => {
            let mut error = syn::Error::new_spanned(
                extra[0],
                format!(
                    "expected 1 or 2 arguments, found {}\n{ACCEPTED}",
                    inputs.len()
                ),
            );
            for more in &extra[1..] {
                error.combine(syn::Error::new_spanned(more, "unexpected argument"));
            }
            return Err(error);
        }
    };
    let return_type = signature::return_type(sig, ACCEPTED)?;
    let output = signature::output(return_type, ACCEPTED)?;
    if let (Form::Request, Inner::Body) = (&form, &output.inner) {
        return Err(syn::Error::new_spanned(
            &output.inner_ty,
            format!("the request form `fn(environ)` returns a `WsgiResponse` (or `Option<WsgiResponse>`, \
                     `Result<WsgiResponse, E>`, `Result<Option<WsgiResponse>, E>`); to return a body, \
                     take `start_response` too: `fn(environ, start_response) -> body`\n{ACCEPTED}"),
        ));
    }
    let name = signature::type_name(function, args.name, "wsgi_handler")?;
    Ok(Handler {
        generated: Generated {
            function,
            name,
            generics: signature::type_generics(sig),
            role: "an `Application` (serve it, or wrap it in a `WsgiService`) and a \
                   `Middleware` (add it to a `WsgiHandler`).",
            attribute: "wsgi_handler",
        },
        form,
        environ,
        output,
        is_async: sig.asyncness.is_some(),
        blocking: args.blocking.is_some(),
    })
}

/// The second argument of the WSGI form: `StartResponse`, by value.
fn start_response_arg(arg: &syn::FnArg) -> syn::Result<()> {
    let ty = signature::typed(arg, ACCEPTED)?;
    if signature::is_named(ty, "StartResponse") {
        return Ok(());
    }
    let hint = match ty {
        syn::Type::Reference(reference)
            if signature::is_named(&reference.elem, "StartResponse") =>
        {
            " (by value: it is a cheap handle)"
        }
        _ => "",
    };
    Err(syn::Error::new_spanned(
        ty,
        format!("the second argument must be `StartResponse`{hint}\n{ACCEPTED}"),
    ))
}

/// Local names in the generated methods.
fn local(name: &str) -> Ident {
    format_ident!("__wsgi_{}", name, span = Span::call_site())
}

/// `ident` with `span`, so that a type error about the value it names is
/// reported on the user's type rather than on the attribute.
pub(crate) fn respan(ident: &Ident, span: Span) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(span);
    ident
}

impl Handler<'_> {
    /// Calls the function with the environ binding and, in the WSGI form,
    /// the `start` binding; evaluates to its return value.
    fn call(&self) -> TokenStream {
        let environ = local("environ");
        let callee = self.generated.callee();
        let fn_span = self.generated.function.sig.ident.span();
        let call_with = |environ: &Ident| {
            let environ = self.environ.arg(environ);
            match self.form {
                Form::Wsgi => {
                    let start = local("start");
                    quote_spanned!(fn_span=> #callee(#environ, #start))
                }
                Form::Request => quote_spanned!(fn_span=> #callee(#environ)),
            }
        };
        if self.is_async {
            let call = call_with(&environ);
            quote!(#call.await)
        } else if self.blocking {
            let moved = local("moved");
            let call = call_with(&moved);
            quote! {
                ::wsgi_core::__private::blocking(
                    #environ,
                    move |#moved: &mut ::wsgi_core::Environ| #call,
                )
                .await?
            }
        } else {
            call_with(&environ)
        }
    }

    /// `let output = call; output = result?; output = option-or-return;`
    fn unwrap_output(&self, on_none: TokenStream) -> TokenStream {
        let output = local("output");
        let call = self.call();
        let result = self.output.result.as_ref().map(|ty| {
            let span = signature::first_span(ty);
            let spanned = respan(&output, span);
            quote_spanned!(span=> let #output = ::wsgi_core::__private::result(#spanned)?;)
        });
        let value = local("value");
        let option = self.output.option.as_ref().map(|_| {
            quote! {
                let #output = match #output {
                    ::core::option::Option::Some(#value) => #value,
                    ::core::option::Option::None => return #on_none,
                };
            }
        });
        quote! {
            let #output = #call;
            #result
            #option
        }
    }

    /// The binding passed as `start_response`, made before the call.
    fn start_binding(&self, keep: bool) -> TokenStream {
        let start_response = local("start_response");
        let start = local("start");
        match (&self.form, keep) {
            (Form::Request, _) => TokenStream::new(),
            (Form::Wsgi, true) => {
                quote!(let #start = ::core::clone::Clone::clone(&#start_response);)
            }
            (Form::Wsgi, false) => quote!(let #start = #start_response;),
        }
    }

    fn application(&self) -> TokenStream {
        let environ = local("environ");
        let start_response = local("start_response");
        let span = signature::first_span(&self.output.inner_ty);
        let output = respan(&local("output"), span);
        let keep = !matches!((&self.form, &self.output.inner), (Form::Wsgi, Inner::Body));
        let start = self.start_binding(keep);
        let unwrap = self.unwrap_output(quote!(::core::result::Result::Err(
            ::wsgi_core::__private::not_found()
        )));
        let finish = match (&self.form, &self.output.inner) {
            (Form::Wsgi, Inner::Body) => quote_spanned! {span=>
                ::core::result::Result::Ok(::wsgi_core::__private::body(#output))
            },
            _ => quote_spanned! {span=>
                ::wsgi_core::__private::start(#output, #environ, &#start_response)
            },
        };
        self.trait_impl(
            quote!(::wsgi_core::Application),
            quote! {
                async fn call(
                    &self,
                    #environ: &mut ::wsgi_core::Environ,
                    #start_response: ::wsgi_core::StartResponse,
                ) -> ::core::result::Result<::wsgi_core::Body, ::wsgi_core::Error> {
                    #start
                    #unwrap
                    #finish
                }
            },
        )
    }

    fn middleware(&self) -> TokenStream {
        let environ = local("environ");
        let start_response = local("start_response");
        let span = signature::first_span(&self.output.inner_ty);
        let output = respan(&local("output"), span);
        let fresh = match self.form {
            Form::Wsgi => quote!(let #start_response = ::wsgi_core::StartResponse::new();),
            Form::Request => TokenStream::new(),
        };
        let start = self.start_binding(true);
        let unwrap = self.unwrap_output(quote!(::core::result::Result::Ok(
            ::core::option::Option::None
        )));
        let finish = match (&self.form, &self.output.inner) {
            (Form::Wsgi, Inner::Body) => quote_spanned! {span=>
                ::wsgi_core::__private::capture(#start_response, ::wsgi_core::__private::body(#output)).await
            },
            (Form::Wsgi, Inner::Response) => quote_spanned! {span=>
                ::wsgi_core::__private::answer(#output, &#start_response)
            },
            (Form::Request, _) => quote_spanned! {span=>
                ::core::result::Result::Ok(::core::option::Option::Some(#output))
            },
        };
        self.trait_impl(
            quote!(::wsgi_core::middleware::Middleware),
            quote! {
                async fn call(
                    &self,
                    #environ: &mut ::wsgi_core::Environ,
                ) -> ::core::result::Result<
                    ::core::option::Option<::wsgi_core::WsgiResponse>,
                    ::wsgi_core::Error,
                > {
                    #fresh
                    #start
                    #unwrap
                    #finish
                }
            },
        )
    }

    fn trait_impl(&self, trait_path: TokenStream, method: TokenStream) -> TokenStream {
        let cfgs = self.generated.cfgs();
        let impl_params = &self.generated.generics.impl_params;
        let where_clause = &self.generated.generics.where_clause;
        let self_ty = self.generated.self_ty();
        quote! {
            #(#cfgs)*
            #[::wsgi_core::async_trait]
            impl #impl_params #trait_path for #self_ty #where_clause {
                #method
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::{File, Item, ItemStruct};

    fn expand(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> File {
        syn::parse2(super::expand(attr, item)).expect("the expansion parses as items")
    }

    fn generated_struct(file: &File) -> &ItemStruct {
        file.items
            .iter()
            .find_map(|item| match item {
                Item::Struct(s) => Some(s),
                _ => None,
            })
            .expect("a struct is generated")
    }

    fn docs(item: &ItemStruct) -> Vec<String> {
        item.attrs
            .iter()
            .filter(|attr| attr.path().is_ident("doc"))
            .map(|attr| quote!(#attr).to_string())
            .collect()
    }

    #[test]
    fn the_function_is_kept_and_the_type_takes_its_visibility_and_docs() {
        let file = expand(
            quote!(),
            quote! {
                /// Says hello.
                #[cfg(feature = "greetings")]
                pub(crate) fn say_hello(environ: &Environ) -> WsgiResponse {
                    WsgiResponse::text("hello")
                }
            },
        );
        let function = file
            .items
            .iter()
            .find_map(|item| match item {
                Item::Fn(f) => Some(f),
                _ => None,
            })
            .expect("the function is kept");
        assert_eq!(function.sig.ident, "say_hello");
        let generated = generated_struct(&file);
        assert_eq!(generated.ident, "SayHello");
        assert!(matches!(generated.vis, syn::Visibility::Restricted(_)));
        let docs = docs(generated);
        assert!(docs[0].contains("Says hello."), "{docs:?}");
        assert!(docs.last().unwrap().contains("say_hello"), "{docs:?}");
        assert!(generated
            .attrs
            .iter()
            .any(|attr| attr.path().is_ident("cfg")));
    }

    #[test]
    fn an_error_re_emits_the_function() {
        let expanded = super::expand(
            quote!(),
            quote!(
                fn three(a: &Environ, b: StartResponse, c: u8) -> &'static str {
                    "x"
                }
            ),
        )
        .to_string();
        assert!(expanded.contains("fn three"), "{expanded}");
        assert!(expanded.contains("compile_error"), "{expanded}");
        assert!(!expanded.contains("struct"), "{expanded}");
    }

    #[test]
    fn name_overrides_the_derived_type_name() {
        let file = expand(
            quote!(name = Custom),
            quote!(
                fn f(environ: &Environ) -> WsgiResponse {
                    WsgiResponse::default()
                }
            ),
        );
        assert_eq!(generated_struct(&file).ident, "Custom");
    }
}
