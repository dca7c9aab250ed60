//! `Path<T>`: the matched route's parameters, deserialized.
//!
//! The parameters are strings in the order the rule names them
//! (`/users/<int:id>/posts/<slug>`); `T` is read from them by a small serde
//! deserializer: a struct or map by name, a tuple by position, or a single
//! value when the rule has one parameter. Each value is parsed as the type
//! asks (`u32`, `bool`, `String`, a unit enum variant by name, ...), and a
//! value that does not parse names its parameter.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::{FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::router::RouteParams;

/// The route's parameters, deserialized into `T`: one value
/// (`Path<u64>`), a tuple in rule order (`Path<(String, u32)>`) or a struct
/// by name. A value that does not fit is a 400 naming the parameter;
/// outside a [`Router`](crate::router::Router) it is a 500.
///
/// ```
/// use serde::Deserialize;
/// use wsgi_core::extract::Path;
/// use wsgi_core::wsgi_handler;
/// use wsgi_core::router::Router;
///
/// #[wsgi_handler]
/// fn user(Path(id): Path<u64>) -> String {
///     format!("user {id}")
/// }
///
/// #[derive(Deserialize)]
/// struct PostPath {
///     user: u64,
///     slug: String,
/// }
///
/// #[wsgi_handler]
/// fn post(Path(post): Path<PostPath>) -> String {
///     format!("post {} of user {}", post.slug, post.user)
/// }
///
/// let router = Router::new()
///     .get("/users/<int:id>", User)
///     .get("/users/<int:user>/posts/<slug>", Post);
/// # let _ = router;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromEnviron for Path<T> {
    type Rejection = Error;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
        let params = environ.extensions().get::<RouteParams>().ok_or_else(|| {
            Error::msg(
                "`Path` is used by a handler that no Router serves: it has no route parameters",
            )
        })?;
        from_params(params).map(Path).map_err(Error::from)
    }
}

/// Deserializes `params` into `T`.
pub(crate) fn from_params<T: DeserializeOwned>(params: &RouteParams) -> Result<T, Rejection> {
    T::deserialize(Params(params))
        .map_err(|e| HttpError::bad_request(format!("invalid path parameter {e}")))
}

/// Why the parameters do not fit.
#[derive(Debug)]
struct PathError(String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

impl serde::de::Error for PathError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        PathError(format!("in the route: {message}"))
    }
}

/// A single value: the one parameter's, parsed as asked.
macro_rules! single_value {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                self.single()?.$method(visitor)
            }
        )*
    };
}

/// All the parameters.
#[derive(Clone, Copy)]
struct Params<'a>(&'a RouteParams);

impl<'de> Params<'de> {
    fn single(&self) -> Result<Param<'de>, PathError> {
        match self.values().next() {
            Some(param) if self.0.len() == 1 => Ok(param),
            _ => Err(PathError(format!(
                "in the route: one value was expected, but the route has {} parameters; use a tuple or a struct",
                self.0.len()
            ))),
        }
    }

    fn values(&self) -> impl Iterator<Item = Param<'de>> + 'de {
        self.0.iter().map(|(name, value)| Param { name, value })
    }
}

impl<'de> Deserializer<'de> for Params<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0.len() {
            1 => self.single()?.deserialize_any(visitor),
            _ => self.deserialize_map(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        let entries = self
            .0
            .iter()
            .map(|(name, value)| (name, Param { name, value }));
        visitor.visit_map(MapDeserializer::new(entries))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(SeqDeserializer::new(self.values()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        if len != self.0.len() {
            return Err(PathError(format!(
                "in the route: a tuple of {len} was expected, but the route has {} parameters",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.0.len() {
            0 => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    single_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
    }

    forward_to_deserialize_any! {
        unit_struct ignored_any
    }
}

/// One parameter's value, parsed as the visitor asks.
#[derive(Clone, Copy)]
struct Param<'a> {
    name: &'a str,
    value: &'a str,
}

impl Param<'_> {
    fn invalid(&self, expected: &str) -> PathError {
        PathError(format!(
            "`{}`: `{}` is not a valid {expected}",
            self.name, self.value
        ))
    }
}

impl<'de> IntoDeserializer<'de, PathError> for Param<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident($ty:ty),)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                let parsed: $ty = self.value.parse().map_err(|_| self.invalid(stringify!($ty)))?;
                visitor.$visit(parsed)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Param<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.value)
    }

    parse_as! {
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
        deserialize_char => visit_char(char),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let value: serde::de::value::BorrowedStrDeserializer<'de, PathError> =
            serde::de::value::BorrowedStrDeserializer::new(self.value);
        visitor
            .visit_enum(value)
            .map_err(|e| PathError(format!("`{}`: {}", self.name, e.0)))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, PathError> {
        Err(self.invalid("list (one parameter is one value)"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, PathError> {
        Err(self.invalid("map (one parameter is one value)"))
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct tuple tuple_struct struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn params(pairs: &[(&str, &str)]) -> RouteParams {
        RouteParams::from(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>(),
        )
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Post {
        user: u64,
        slug: String,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Draft,
        Published,
    }

    #[test]
    fn one_value_a_tuple_a_struct_and_an_enum() {
        assert_eq!(from_params::<u64>(&params(&[("id", "42")])).unwrap(), 42);
        assert_eq!(
            from_params::<(String, u8)>(&params(&[("a", "x"), ("b", "7")])).unwrap(),
            ("x".to_owned(), 7)
        );
        assert_eq!(
            from_params::<Post>(&params(&[("user", "3"), ("slug", "hi")])).unwrap(),
            Post {
                user: 3,
                slug: "hi".to_owned()
            }
        );
        assert_eq!(
            from_params::<Kind>(&params(&[("k", "draft")])).unwrap(),
            Kind::Draft
        );
    }

    #[test]
    fn a_value_that_does_not_parse_names_its_parameter() {
        let error = from_params::<Post>(&params(&[("user", "ada"), ("slug", "hi")])).unwrap_err();
        assert_eq!(error.status(), 400);
        assert!(
            error
                .to_string()
                .contains("`user`: `ada` is not a valid u64"),
            "{error}"
        );
        let error = from_params::<u64>(&params(&[("a", "1"), ("b", "2")])).unwrap_err();
        assert!(error.to_string().contains("2 parameters"), "{error}");
        let error = from_params::<Kind>(&params(&[("k", "gone")])).unwrap_err();
        assert!(error.to_string().contains("`k`"), "{error}");
    }
}
