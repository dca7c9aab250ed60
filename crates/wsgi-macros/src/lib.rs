//! Procedural macros for [`wsgi-core`](https://docs.rs/wsgi-core).
//!
//! Users depend on `wsgi-core`, which re-exports everything defined here.
