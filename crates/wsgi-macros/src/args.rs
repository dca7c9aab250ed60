//! The attributes' own arguments: `blocking`, `name = TypeName`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::Ident;

/// The arguments of `#[wsgi_handler(…)]` or `#[response_middleware(…)]`.
#[derive(Default)]
pub(crate) struct Args {
    /// `blocking`, where it was written.
    pub(crate) blocking: Option<Span>,
    /// `name = TypeName`.
    pub(crate) name: Option<Ident>,
}

/// Parses `tokens`; `allow_blocking` says whether `blocking` is accepted,
/// `accepted` names what is (for the error message).
pub(crate) fn parse(
    tokens: TokenStream,
    allow_blocking: bool,
    accepted: &str,
) -> syn::Result<Args> {
    let mut args = Args::default();
    let unknown = |meta: &ParseNestedMeta<'_>| {
        let path = &meta.path;
        let shown = quote::quote!(#path).to_string().replace(' ', "");
        meta.error(format!("unknown argument `{shown}`: {accepted}"))
    };
    let parser = syn::meta::parser(|meta| {
        if allow_blocking && meta.path.is_ident("blocking") {
            if args.blocking.is_some() {
                return Err(meta.error("`blocking` is given twice"));
            }
            args.blocking = Some(meta.path.require_ident()?.span());
            Ok(())
        } else if meta.path.is_ident("name") {
            if args.name.is_some() {
                return Err(meta.error("`name` is given twice"));
            }
            args.name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(unknown(&meta))
        }
    });
    parser.parse2(tokens)?;
    Ok(args)
}
