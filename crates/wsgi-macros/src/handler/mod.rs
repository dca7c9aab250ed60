//! `#[wsgi_handler]`: a function becomes an `Application` and a
//! `RequestMiddleware`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{Ident, ItemFn};

use crate::args;
use crate::item::{self, Generated};
use crate::signature::{self, EnvironRef, Inner, Output};

mod impls;

/// Appended to every error: what `#[wsgi_handler]` accepts.
pub(crate) const ACCEPTED: &str = "\
accepted by #[wsgi_handler] (on an `async fn` or a plain `fn`):
  fn(extractors…) -> R                     (typed form: any `FromEnviron` arguments, such as \
`Path<T>`, `Query<T>`, `Json<T>`, `Form<T>`, `State<S>`, and at most one `&Environ` or `&mut Environ`, \
in any order; R is anything `IntoResponse`: `WsgiResponse`, `String`, `Json<T>`, `Html<T>`, `(StatusCode, T)`, …)
  fn(environ: &Environ, start_response: StartResponse, extractors…) -> B   (WSGI form; B is a body, \
anything `Into<Body>`, or a `WsgiResponse`)
either return may be wrapped as `Option<…>` (`None` passes on), `Result<…, E>` or `Result<Option<…>, E>` \
with `E` an `IntoResponse` (`wsgi_core::Error`, `HttpError`, `anyhow::Error`, your own) or any \
`std::error::Error`;
attribute arguments: `blocking` (run a plain `fn` on the blocking pool), `name = TypeName`";

const ARGUMENTS: &str = "#[wsgi_handler] accepts `blocking` and `name = TypeName`";

/// How the function is called.
enum Form {
    /// With a `StartResponse`: returns a body.
    Wsgi,
    /// Without: returns anything `IntoResponse`.
    Typed,
}

/// One argument of the function.
enum Arg {
    Environ(EnvironRef),
    StartResponse,
    /// An extractor, by its type.
    Extractor(Box<syn::Type>),
}

struct Handler<'a> {
    generated: Generated<'a>,
    form: Form,
    args: Vec<Arg>,
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
    let body_check = handler.body_check();
    let application = handler.application();
    let middleware = handler.middleware();
    let service = handler.service();
    Ok(quote! {
        #function
        #declaration
        #body_check
        #application
        #middleware
        #service
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
    let mut read_args = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push_error = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    let (mut environs, mut starts) = (0, 0);
    for input in &sig.inputs {
        match read_arg(input) {
            Ok(arg) => {
                let ty = signature::typed(input, ACCEPTED)?;
                match &arg {
                    Arg::Environ(_) => {
                        environs += 1;
                        if environs > 1 {
                            push_error(syn::Error::new_spanned(
                                ty,
                                format!(
                                    "the environ is taken once: remove this argument\n{ACCEPTED}"
                                ),
                            ));
                        }
                    }
                    Arg::StartResponse => {
                        starts += 1;
                        if starts > 1 {
                            push_error(syn::Error::new_spanned(ty, format!("`StartResponse` is taken once: remove this argument\n{ACCEPTED}")));
                        }
                    }
                    Arg::Extractor(_) => {}
                }
                read_args.push(arg);
            }
            Err(error) => push_error(error),
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let form = if starts == 1 { Form::Wsgi } else { Form::Typed };
    // A typed handler without a return type returns `()`, an empty 200; the
    // WSGI form returns its body, which must be written.
    let unit: syn::Type = syn::parse_quote_spanned!(sig.paren_token.span.close()=> ());
    let return_type = match (&form, &sig.output) {
        (Form::Typed, syn::ReturnType::Default) => &unit,
        _ => signature::return_type(sig, ACCEPTED)?,
    };
    let output = signature::output(return_type, ACCEPTED)?;
    if let (Form::Wsgi, Inner::Body) = (&form, &output.inner) {
        if let Some(shown) = signature::response_like(&output.inner_ty) {
            return Err(syn::Error::new_spanned(
                &output.inner_ty,
                format!("a handler that takes `StartResponse` returns a body (or a `WsgiResponse`), not `{shown}`: \
                         remove the `StartResponse` argument to return `{shown}`, or return a body after \
                         calling `start_response`\n{ACCEPTED}"),
            ));
        }
    }
    let name = signature::type_name(function, args.name, "wsgi_handler")?;
    Ok(Handler {
        generated: Generated {
            function,
            name,
            generics: signature::type_generics(sig),
            role: "an `Application` (serve it, or wrap it in a `WsgiService`), a \
                   `RequestMiddleware` (add it to a `WsgiHandler` or a `Router`) and a tower `Service`.",
            attribute: "wsgi_handler",
        },
        form,
        args: read_args,
        output,
        is_async: sig.asyncness.is_some(),
        blocking: args.blocking.is_some(),
    })
}

/// Reads one argument: the environ, `StartResponse` or an extractor.
fn read_arg(arg: &syn::FnArg) -> syn::Result<Arg> {
    let ty = signature::typed(arg, ACCEPTED)?;
    if let syn::Type::Reference(reference) = ty {
        if signature::is_named(&reference.elem, "Environ") {
            return Ok(Arg::Environ(if reference.mutability.is_some() {
                EnvironRef::Mut
            } else {
                EnvironRef::Shared
            }));
        }
        let hint = if signature::is_named(&reference.elem, "StartResponse") {
            "`StartResponse` is taken by value: it is a cheap handle"
        } else {
            "extractors are taken by value (`Json<T>`, not `&Json<T>`); only the environ is borrowed"
        };
        return Err(syn::Error::new_spanned(ty, format!("{hint}\n{ACCEPTED}")));
    }
    if signature::is_named(ty, "Environ") {
        return Err(syn::Error::new_spanned(
            ty,
            format!("the environ is borrowed, not taken by value: `&Environ` or `&mut Environ`\n{ACCEPTED}"),
        ));
    }
    if signature::is_named(ty, "StartResponse") {
        return Ok(Arg::StartResponse);
    }
    Ok(Arg::Extractor(Box::new(ty.clone())))
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
    /// The extractor arguments' bindings and types, in order.
    fn extractors(&self) -> impl Iterator<Item = (usize, &syn::Type)> {
        self.args
            .iter()
            .enumerate()
            .filter_map(|(i, arg)| match arg {
                Arg::Extractor(ty) => Some((i, &**ty)),
                _ => None,
            })
    }

    /// A compile-time check that at most one extractor reads the body: one
    /// assertion per extractor after the first, on its type, so the error
    /// points at the second body reader. A free constant for a plain
    /// function (evaluated by `cargo check`); an inline one in the call for
    /// a generic function, whose types are known only there.
    fn body_check(&self) -> TokenStream {
        if self.generated.generics.is_generic() {
            return TokenStream::new();
        }
        let assertions = self.body_assertions();
        if assertions.is_empty() {
            return TokenStream::new();
        }
        let cfgs = self.generated.cfgs();
        quote! {
            #(#cfgs)*
            const _: () = { #(#assertions)* };
        }
    }

    fn body_assertions(&self) -> Vec<TokenStream> {
        let extractors: Vec<&syn::Type> = self.extractors().map(|(_, ty)| ty).collect();
        let function = self.generated.function.sig.ident.to_string();
        let mut assertions = Vec::new();
        for (i, ty) in extractors.iter().enumerate().skip(1) {
            let earlier = &extractors[..i];
            let span = signature::first_span(ty);
            let shown = quote!(#ty).to_string().replace(' ', "");
            let message = format!(
                "`{function}` takes `{shown}` and another argument that also reads the request body; \
                 the body can be read once (by one `Json<T>`, `Form<T>`, `Bytes` or `String`): keep one"
            );
            assertions.push(quote_spanned! {span=>
                ::core::assert!(
                    !(<#ty as ::wsgi_core::extract::FromEnviron>::READS_BODY
                        && (false #(|| <#earlier as ::wsgi_core::extract::FromEnviron>::READS_BODY)*)),
                    #message
                );
            });
        }
        assertions
    }

    /// `let __wsgi_arg{i} = extract::<T>(environ).await?;` for each
    /// extractor, in order.
    fn extract(&self) -> TokenStream {
        let environ = local("environ");
        let lets = self.extractors().map(|(i, ty)| {
            let binding = local(&format!("arg{i}"));
            let span = signature::first_span(ty);
            quote_spanned! {span=>
                let #binding = ::wsgi_core::__private::extract::<#ty>(#environ).await?;
            }
        });
        let inline_check = if self.generated.generics.is_generic() {
            let assertions = self.body_assertions();
            (!assertions.is_empty()).then(|| quote!(const { #(#assertions)* };))
        } else {
            None
        };
        quote!(#inline_check #(#lets)*)
    }

    /// Calls the function with the environ binding, the `start` binding and
    /// the extracted values; evaluates to its return value.
    fn call(&self) -> TokenStream {
        let environ = local("environ");
        let callee = self.generated.callee();
        let fn_span = self.generated.function.sig.ident.span();
        let call_with = |environ: &Ident| {
            let args = self.args.iter().enumerate().map(|(i, arg)| match arg {
                Arg::Environ(kind) => kind.arg(environ),
                Arg::StartResponse => local("start").to_token_stream(),
                Arg::Extractor(_) => local(&format!("arg{i}")).to_token_stream(),
            });
            quote_spanned!(fn_span=> #callee(#(#args),*))
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

    /// Extracts, calls, and unwraps the `Result` and `Option` layers:
    /// `Err(e)` is turned into a response or an error (by `IntoResponse`,
    /// else `Into<Error>`) and handed to `respond`; `None` returns
    /// `on_none`.
    fn unwrap_output(
        &self,
        on_none: TokenStream,
        respond: &dyn Fn(TokenStream) -> TokenStream,
    ) -> TokenStream {
        let output = local("output");
        let extract = self.extract();
        let call = self.call();
        let result = self.output.result.as_ref().map(|ty| {
            let span = signature::first_span(ty);
            let error = respan(&local("error"), span);
            let response = local("response");
            let answer = respond(response.to_token_stream());
            quote_spanned! {span=>
                let #output = match #output {
                    ::core::result::Result::Ok(#output) => #output,
                    ::core::result::Result::Err(#error) => {
                        #[allow(unused_imports)]
                        use ::wsgi_core::__private::{ViaAny as _, ViaError as _, ViaResponse as _};
                        let #response = (&&&::wsgi_core::__private::Probe(&#error))
                            .__wsgi_kind()
                            .convert(#error)?;
                        return #answer;
                    }
                };
            }
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
            #extract
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
            (Form::Typed, _) => TokenStream::new(),
            (Form::Wsgi, true) => {
                quote!(let #start = ::core::clone::Clone::clone(&#start_response);)
            }
            (Form::Wsgi, false) => quote!(let #start = #start_response;),
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
                fn three(a: &Environ, b: StartResponse, c: &Environ) -> &'static str {
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
