//! Names, generics, visibility, docs and attributes of `#[wsgi_handler]`
//! items.
#![deny(warnings)]

use wsgi_core::middleware::RequestMiddleware;
use wsgi_core::{wsgi_handler, Application, Environ, StartResponse, WsgiResponse, WsgiService};

fn is_handler<T: Application + RequestMiddleware + Clone + Copy + Default + std::fmt::Debug>() {}

trait Greeting: Send + Sync + 'static {
    fn word() -> &'static str;
}

enum English {}

impl Greeting for English {
    fn word() -> &'static str {
        "Hello"
    }
}

/// A generic handler: one type per greeting.
#[wsgi_handler]
fn greet<G: Greeting>(_environ: &Environ, _start_response: StartResponse) -> String {
    G::word().to_owned()
}

#[wsgi_handler]
async fn generic_where<'a, G, const N: usize>(_environ: &'a Environ) -> WsgiResponse
where
    G: Greeting,
{
    WsgiResponse::text(G::word().repeat(N))
}

#[wsgi_handler(name = Renamed)]
fn renamed_handler(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::default()
}

// A function named like the generated code's locals (and whose default
// type name, `Environ`, would clash with the import).
#[wsgi_handler(name = EnvironEcho)]
fn environ(environ: &Environ) -> WsgiResponse {
    WsgiResponse::text(environ.path_info().into_owned())
}

#[wsgi_handler]
fn r#match(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::default()
}

#[cfg(any())]
#[wsgi_handler]
fn compiled_out(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::default()
}

mod outer {
    pub mod inner {
        use wsgi_core::{wsgi_handler, Environ, WsgiResponse};

        /// Visible everywhere.
        #[wsgi_handler]
        pub fn public(_environ: &Environ) -> WsgiResponse {
            WsgiResponse::default()
        }

        #[wsgi_handler]
        pub(crate) fn crate_only(_environ: &Environ) -> WsgiResponse {
            WsgiResponse::default()
        }

        #[wsgi_handler]
        pub(in crate::outer) fn outer_only(_environ: &Environ) -> WsgiResponse {
            WsgiResponse::default()
        }
    }

    pub fn outer_only() -> String {
        format!("{:?}", inner::OuterOnly)
    }
}

fn main() {
    is_handler::<Greet<English>>();
    is_handler::<GenericWhere<English, 3>>();
    is_handler::<Renamed>();
    is_handler::<EnvironEcho>();
    is_handler::<Match>();
    is_handler::<outer::inner::Public>();
    is_handler::<outer::inner::CrateOnly>();
    assert_eq!(outer::outer_only(), "OuterOnly");

    // Local items work too.
    #[wsgi_handler]
    fn local(_environ: &Environ) -> WsgiResponse {
        WsgiResponse::default()
    }
    is_handler::<Local>();

    // Into a tower service.
    let _service: WsgiService<Renamed> = Renamed.into();
    let _service = WsgiService::new(Greet::<English>::default());
    assert_eq!(format!("{:?}", Renamed), "Renamed");
}
