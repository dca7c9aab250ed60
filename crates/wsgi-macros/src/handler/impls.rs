//! The code `#[wsgi_handler]` generates for the function's type: the
//! `Application` and `RequestMiddleware` impls and the tower `Service`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};

use super::{local, respan, Form, Handler};
use crate::signature::{self, Inner};

impl Handler<'_> {
    pub(super) fn application(&self) -> TokenStream {
        let environ = local("environ");
        let start_response = local("start_response");
        let span = signature::first_span(&self.output.inner_ty);
        let output = respan(&local("output"), span);
        let start = self.start_binding(true);
        let started = |response: TokenStream| quote!(::wsgi_core::__private::start(#response, #environ, &#start_response));
        let unwrap = self.unwrap_output(
            quote!(::core::result::Result::Err(
                ::wsgi_core::__private::not_found()
            )),
            &started,
        );
        let finish = match (&self.form, &self.output.inner) {
            (Form::Wsgi, Inner::Body) => quote_spanned! {span=>
                ::core::result::Result::Ok(::wsgi_core::__private::body(#output))
            },
            _ => {
                let response = local("response");
                let started = started(response.to_token_stream());
                quote_spanned! {span=>
                    let #response = ::wsgi_core::__private::respond(#output)?;
                    #started
                }
            }
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
            true,
        )
    }

    pub(super) fn middleware(&self) -> TokenStream {
        let environ = local("environ");
        let start_response = local("start_response");
        let span = signature::first_span(&self.output.inner_ty);
        let output = respan(&local("output"), span);
        let fresh = match self.form {
            Form::Wsgi => quote!(let #start_response = ::wsgi_core::StartResponse::new();),
            Form::Typed => TokenStream::new(),
        };
        let start = self.start_binding(true);
        let answered = |response: TokenStream| match self.form {
            Form::Wsgi => quote!(::wsgi_core::__private::answer(#response, &#start_response)),
            Form::Typed => {
                quote!(::core::result::Result::Ok(::core::option::Option::Some(#response)))
            }
        };
        let unwrap = self.unwrap_output(
            quote!(::core::result::Result::Ok(::core::option::Option::None)),
            &answered,
        );
        let finish = match (&self.form, &self.output.inner) {
            (Form::Wsgi, Inner::Body) => quote_spanned! {span=>
                ::wsgi_core::__private::capture(#start_response, ::wsgi_core::__private::body(#output)).await
            },
            _ => {
                let response = local("response");
                let answered = answered(response.to_token_stream());
                quote_spanned! {span=>
                    let #response = ::wsgi_core::__private::respond(#output)?;
                    #answered
                }
            }
        };
        self.trait_impl(
            quote!(::wsgi_core::middleware::RequestMiddleware),
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
            true,
        )
    }

    /// `check`: each extractor's start-up check, naming the handler.
    fn check(&self) -> TokenStream {
        let types = self.extractors().map(|(_, ty)| ty);
        let name = self.generated.name.to_string();
        quote! {
            fn check(
                &self,
                provided: &::wsgi_core::extract::Provided<'_>,
            ) -> ::core::result::Result<(), ::wsgi_core::extract::CheckError> {
                let _ = provided;
                #(
                    <#types as ::wsgi_core::extract::FromEnviron>::check(provided)
                        .map_err(|e| e.in_handler(#name))?;
                )*
                ::core::result::Result::Ok(())
            }
        }
    }

    /// The type as a tower `Service`, with the default configuration.
    pub(super) fn service(&self) -> TokenStream {
        let cfgs = self.generated.cfgs();
        let self_ty = self.generated.self_ty();
        let where_clause = &self.generated.generics.where_clause;
        let body = local("B");
        let list = &self.generated.generics.impl_list;
        let params = quote!(<#(#list,)* #body>);
        let extra = quote! {
            #body: ::wsgi_core::__private::http_body::Body<Data = ::wsgi_core::__private::Bytes>
                + ::core::marker::Send
                + 'static,
            <#body as ::wsgi_core::__private::http_body::Body>::Error:
                ::core::convert::Into<::wsgi_core::BoxError>,
        };
        let where_clause = if where_clause.is_empty() {
            quote!(where #extra)
        } else {
            quote!(#where_clause, #extra)
        };
        quote! {
            #(#cfgs)*
            impl #params ::wsgi_core::__private::Service<::wsgi_core::http::Request<#body>> for #self_ty
            #where_clause
            {
                type Response = ::wsgi_core::http::Response<::wsgi_core::response_body::ResponseBody>;
                type Error = ::core::convert::Infallible;
                type Future = ::wsgi_core::ResponseFuture;

                fn poll_ready(
                    &mut self,
                    _cx: &mut ::core::task::Context<'_>,
                ) -> ::core::task::Poll<::core::result::Result<(), Self::Error>> {
                    ::core::task::Poll::Ready(::core::result::Result::Ok(()))
                }

                fn call(&mut self, request: ::wsgi_core::http::Request<#body>) -> Self::Future {
                    ::wsgi_core::__private::serve(*self, request)
                }
            }
        }
    }

    /// The impl of `trait_path`, whose `call` (in `method`) is a native
    /// `async fn` for both traits.
    fn trait_impl(
        &self,
        trait_path: TokenStream,
        method: TokenStream,
        with_check: bool,
    ) -> TokenStream {
        let cfgs = self.generated.cfgs();
        let impl_params = &self.generated.generics.impl_params;
        let where_clause = &self.generated.generics.where_clause;
        let self_ty = self.generated.self_ty();
        let check = with_check.then(|| self.check());
        quote! {
            #(#cfgs)*
            impl #impl_params #trait_path for #self_ty #where_clause {
                #method
                #check
            }
        }
    }
}
