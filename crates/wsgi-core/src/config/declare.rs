//! `settings!`: the one declaration of every setting, from which the
//! [`Config`](super::Config) struct and its defaults, the names
//! ([`Config::SETTINGS`](super::Config::SETTINGS)), the by-name getter
//! ([`Config::get`](super::Config::get)), and the table the command line,
//! the environment variables, `--help` and the file are built from
//! (`DECLARED`, `Overrides`) all come. Adding a setting is one entry in
//! `config/mod.rs`.

/// Declares the settings: each field entry is its docs, `name: Type =
/// default, "VALUE_NAME", "one-line help";`; the `@tls { ... }` entries are
/// the two settings stored together as `Config::tls`.
macro_rules! settings {
    (
        $(
            $(#[doc = $doc:literal])*
            $name:ident: $ty:ty = $default:expr, $value_name:literal, $help:literal;
        )*
        @tls {
            $( $pname:ident, $pvalue_name:literal, $phelp:literal; )*
        }
    ) => {
        /// The server's settings. Every field is public, typed (each value
        /// was parsed once, where it was given) and documented with its
        /// default; [`Config::get`] reads one by its setting name.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct Config {
            $( $(#[doc = $doc])* pub $name: $ty, )*
            /// The TLS certificate chain and private key (the `certfile`
            /// and `keyfile` settings, PEM files); with them every address
            /// is served over TLS. Default none (plain HTTP).
            pub tls: Option<TlsFiles>,
            /// The application's own settings ([`AppSettings`]), read with
            /// [`app`](Self::app).
            #[cfg(feature = "server")]
            pub(crate) app: Option<StoredSettings>,
        }

        impl Default for Config {
            fn default() -> Self {
                Config {
                    $( $name: $default, )*
                    tls: None,
                    #[cfg(feature = "server")]
                    app: None,
                }
            }
        }

        /// One setting as the command line, the environment and the file
        /// know it.
        #[derive(Debug)]
        #[cfg_attr(not(feature = "server"), allow(dead_code))]
        pub(crate) struct Declared {
            /// The setting's name: the file's key; the flag and the
            /// variable are derived from it.
            pub(crate) name: &'static str,
            pub(crate) value_name: &'static str,
            pub(crate) help: &'static str,
            pub(crate) kind: FlagKind,
            pub(crate) secret: bool,
        }

        /// Every setting, in `--help` order.
        #[cfg_attr(not(feature = "server"), allow(dead_code))]
        pub(crate) const DECLARED: &[Declared] = &[
            $( Declared {
                name: stringify!($name),
                value_name: $value_name,
                help: $help,
                kind: <$ty as SettingValue>::KIND,
                secret: <$ty as SettingValue>::SECRET,
            }, )*
            $( Declared {
                name: stringify!($pname),
                value_name: $pvalue_name,
                help: $phelp,
                kind: FlagKind::Value,
                secret: false,
            }, )*
        ];

        impl Config {
            /// Every setting's name, as [`get`](Self::get), the file's
            /// keys, the flags (`_` → `-`) and the environment variables
            /// (`WSGI_` + upper case) spell them.
            pub const SETTINGS: &'static [&'static str] =
                &[$( stringify!($name), )* $( stringify!($pname), )*];

            /// Reads a setting by name (any of [`SETTINGS`](Self::SETTINGS)),
            /// as pulsar's `cfg.get(name)`, in the form a flag takes it:
            /// durations in seconds, several `bind` addresses joined with
            /// `,`, an unset file as `""`, a set `secret_key` as
            /// `"<redacted>"`; `None` for an unknown name, and for the
            /// application's own settings (read those typed, with
            /// `app`).
            ///
            /// ```
            /// let config = wsgi_core::Config::default();
            /// assert_eq!(config.get("bind").as_deref(), Some("127.0.0.1:8060"));
            /// assert_eq!(config.get("http_keep_alive").as_deref(), Some("15"));
            /// assert_eq!(config.get("certfile").as_deref(), Some(""));
            /// assert_eq!(config.get("nope"), None);
            /// ```
            pub fn get(&self, name: &str) -> Option<String> {
                match name {
                    $( stringify!($name) => Some(self.$name.show()), )*
                    $( stringify!($pname) => Some(
                        self.tls.as_ref().map(|tls| tls.$pname.clone()).show()
                    ), )*
                    _ => None,
                }
            }
        }

        /// The values one source (a file, the command line, a builder)
        /// gave, each parsed; applied over a [`Config`] at once, so that
        /// `certfile` and `keyfile` may come from different sources.
        #[derive(Debug, Default)]
        #[cfg_attr(not(feature = "server"), allow(dead_code))]
        pub(crate) struct Overrides {
            $( $name: Option<$ty>, )*
            $( $pname: Option<PathBuf>, )*
        }

        #[cfg_attr(not(feature = "server"), allow(dead_code))]
        impl Overrides {
            /// Parses `text` as the setting `name`; `None` for an unknown
            /// name.
            pub(crate) fn set(&mut self, name: &str, text: &str) -> Option<Result<(), String>> {
                match name {
                    $( stringify!($name) => {
                        Some(SettingValue::parse(text).map(|value| self.$name = Some(value)))
                    } )*
                    $( stringify!($pname) => {
                        Some(SettingValue::parse(text).map(|value| self.$pname = Some(value)))
                    } )*
                    _ => None,
                }
            }

            /// Reads the file's value for the setting `name`; `None` for
            /// an unknown name.
            #[cfg(feature = "server")]
            pub(crate) fn set_toml(
                &mut self,
                name: &str,
                value: toml::Value,
            ) -> Option<Result<(), String>> {
                match name {
                    $( stringify!($name) => {
                        Some(SettingValue::from_toml(value).map(|value| self.$name = Some(value)))
                    } )*
                    $( stringify!($pname) => {
                        Some(SettingValue::from_toml(value).map(|value| self.$pname = Some(value)))
                    } )*
                    _ => None,
                }
            }

            /// These values, overridden by those `later` gave.
            #[cfg(feature = "server")]
            pub(crate) fn then(self, later: Overrides) -> Overrides {
                Overrides {
                    $( $name: later.$name.or(self.$name), )*
                    $( $pname: later.$pname.or(self.$pname), )*
                }
            }

            /// Writes the values given over `config`.
            pub(crate) fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
                $( if let Some(value) = self.$name { config.$name = value; } )*
                config.tls = TlsFiles::merge(config.tls.take(), $( self.$pname ),*)?;
                Ok(())
            }
        }
    };
}
