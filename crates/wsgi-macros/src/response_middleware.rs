//! `#[response_middleware]`: a function `(environ, response) -> response`
//! becomes a `ResponseMiddleware`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;

use crate::args;
use crate::item::{self, Generated};
use crate::signature::{self, EnvironRef, Inner};

/// Appended to every error: what `#[response_middleware]` accepts.
pub(crate) const ACCEPTED: &str = "\
accepted by #[response_middleware] (on an `async fn` or a plain `fn`):
  fn(environ: &mut Environ, response: WsgiResponse) -> WsgiResponse        (or `&Environ`)
  fn(environ: &mut Environ, response: WsgiResponse) -> Result<WsgiResponse, E>   with `E: Into<wsgi_core::Error>`
attribute argument: `name = TypeName`";

const ARGUMENTS: &str = "#[response_middleware] accepts `name = TypeName`";

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(attr, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => item::with_error(item, error),
    }
}

fn try_expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let function = item::function(item, "response_middleware", ACCEPTED)?;
    let args = args::parse(attr, false, ARGUMENTS)?;
    let (environ, result) = read(&function)?;
    let generated = Generated {
        function: &function,
        name: signature::type_name(&function, args.name, "response_middleware")?,
        generics: signature::type_generics(&function.sig),
        role: "a `ResponseMiddleware` (add it to a `WsgiHandler` with `response_middleware`).",
        attribute: "response_middleware",
    };
    let declaration = generated.declaration();
    let environ_ident = format_ident!("__wsgi_environ", span = Span::call_site());
    let response = format_ident!("__wsgi_response", span = Span::call_site());
    let output = format_ident!("__wsgi_output", span = Span::call_site());
    let callee = generated.callee();
    let environ_arg = environ.arg(&environ_ident);
    let fn_span = function.sig.ident.span();
    let mut call = quote_spanned!(fn_span=> #callee(#environ_arg, #response));
    if function.sig.asyncness.is_some() {
        call = quote!(#call.await);
    }
    let finish = match result {
        Some(span) => {
            let spanned = crate::handler::respan(&output, span);
            quote_spanned!(span=> ::wsgi_core::__private::result(#spanned))
        }
        None => quote!(::core::result::Result::Ok(#output)),
    };
    let cfgs = generated.cfgs();
    let impl_params = &generated.generics.impl_params;
    let where_clause = &generated.generics.where_clause;
    let self_ty = generated.self_ty();
    Ok(quote! {
        #function
        #declaration

        #(#cfgs)*
        impl #impl_params ::wsgi_core::middleware::ResponseMiddleware for #self_ty #where_clause {
            async fn call(
                &self,
                #environ_ident: &mut ::wsgi_core::Environ,
                #response: ::wsgi_core::WsgiResponse,
            ) -> ::core::result::Result<::wsgi_core::WsgiResponse, ::wsgi_core::Error> {
                let #output = #call;
                #finish
            }
        }
    })
}

/// Checks the signature; returns how the environ is taken and, for a
/// `Result`, where its error type is.
fn read(function: &ItemFn) -> syn::Result<(EnvironRef, Option<Span>)> {
    let sig = &function.sig;
    signature::check_function(sig, ACCEPTED)?;
    let inputs: Vec<_> = sig.inputs.iter().collect();
    let environ = match inputs.as_slice() {
        [environ, response] => {
            let environ = signature::environ_arg(environ, "first", ACCEPTED);
            let response = response_arg(response);
            signature::both(environ, response)?.0
        }
        [] => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("expected 2 arguments, found none\n{ACCEPTED}"),
            ))
        }
        [only] => {
            return Err(syn::Error::new_spanned(
                only,
                format!(
                    "expected 2 arguments, found 1: the environ, then the response\n{ACCEPTED}"
                ),
            ))
        }
        [_, _, extra @ ..] => {
            let mut error = syn::Error::new_spanned(
                extra[0],
                format!("expected 2 arguments, found {}\n{ACCEPTED}", inputs.len()),
            );
            for more in &extra[1..] {
                error.combine(syn::Error::new_spanned(more, "unexpected argument"));
            }
            return Err(error);
        }
    };
    let return_type = signature::return_type(sig, ACCEPTED)?;
    let output = signature::output(return_type, ACCEPTED)?;
    if output.option.is_some() || !matches!(output.inner, Inner::Response) {
        return Err(syn::Error::new_spanned(
            output.option.as_ref().unwrap_or(&output.inner_ty),
            format!("a response middleware returns the response: `WsgiResponse` or `Result<WsgiResponse, E>`\n{ACCEPTED}"),
        ));
    }
    Ok((environ, output.result.as_ref().map(signature::first_span)))
}

/// The second argument: `WsgiResponse`, by value.
fn response_arg(arg: &syn::FnArg) -> syn::Result<()> {
    let ty = signature::typed(arg, ACCEPTED)?;
    if signature::is_named(ty, "WsgiResponse") {
        return Ok(());
    }
    let hint = match ty {
        syn::Type::Reference(reference) if signature::is_named(&reference.elem, "WsgiResponse") => {
            " (by value: return it, changed or replaced)"
        }
        _ => "",
    };
    Err(syn::Error::new_spanned(
        ty,
        format!("the second argument must be the response, `WsgiResponse`{hint}\n{ACCEPTED}"),
    ))
}
