//! `ActionForm`, as Leptos' own (same props, same `<form action method="post">` markup, the
//! same dispatch), but the browser turns the form's fields into the server function's
//! arguments with the small reader below instead of serde_qs, whose deserialiser was compiled
//! into the bundle once per form (issue 16: the browser bundle at most 400 KB gzip). The
//! rules are serde_qs' for flat fields (what these forms have): a field's text as typed, an
//! empty field is `None` for an `Option`, numbers parsed from their text, a field that is not
//! there is missing (`None` for an `Option`, the default with `#[server(default)]`).

use crate::codec::JsonOut;
use leptos::either::Either;
use leptos::ev::{submit, SubmitEvent};
use leptos::html::{form, Form};
use leptos::prelude::*;
use leptos::server_fn::codec::PostUrl;
use leptos::server_fn::error::{IntoAppError, ServerFnErrorErr};
use leptos::server_fn::{Http, ServerFn};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

/// A form that posts to a server function whose arguments are its fields (see the module).
#[component]
pub fn ActionForm<ServFn>(
    /// The action the form dispatches.
    action: ServerAction<ServFn>,
    /// Where the `<form>` element is stored.
    #[prop(optional)]
    node_ref: Option<NodeRef<Form>>,
    children: Children,
) -> impl IntoView
where
    ServFn: DeserializeOwned
        + ServerFn<Protocol = Http<PostUrl, JsonOut>>
        + Clone
        + Send
        + Sync
        + 'static,
    ServFn::Output: Send + Sync + 'static,
    ServFn::Error: Send + Sync + 'static,
{
    let version = action.version();
    let value = action.value();
    let on_submit = move |ev: SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        match arguments::<ServFn>(&ev) {
            Ok(input) => {
                action.dispatch(input);
            }
            Err(e) => {
                value.set(Some(Err(
                    ServerFnErrorErr::Serialization(e).into_app_error()
                )));
                version.update(|n| *n += 1);
            }
        }
    };
    let element = form()
        .action(ServFn::url())
        .method("post")
        .on(submit, on_submit)
        .child(children());
    match node_ref {
        Some(node_ref) => Either::Left(element.node_ref(node_ref)),
        None => Either::Right(element),
    }
}

/// The form's fields (and the button that submitted it, when named) as `T`.
fn arguments<T: DeserializeOwned>(ev: &SubmitEvent) -> Result<T, String> {
    let fields = form_fields(ev)?;
    T::deserialize(Fields(fields)).map_err(|e| e.to_string())
}

#[cfg(feature = "hydrate")]
fn form_fields(ev: &SubmitEvent) -> Result<Vec<(String, String)>, String> {
    let data = leptos::form::form_data_from_event(ev).map_err(|e| e.to_string())?;
    let entries = js_sys::try_iter(&data)
        .ok()
        .flatten()
        .ok_or("the form's fields could not be read")?;
    let mut fields = Vec::new();
    for entry in entries {
        let entry = js_sys::Array::from(&entry.map_err(|_| "the form's fields could not be read")?);
        // Files are never sent through an ActionForm; a file field reads as empty.
        let name = entry.get(0).as_string().unwrap_or_default();
        let value = entry.get(1).as_string().unwrap_or_default();
        fields.push((name, value));
    }
    Ok(fields)
}

#[cfg(not(feature = "hydrate"))]
fn form_fields(_: &SubmitEvent) -> Result<Vec<(String, String)>, String> {
    Err("forms are read only in the browser".to_string())
}

/// A form's fields, read as a struct (or map) of their names.
struct Fields(Vec<(String, String)>);

impl<'de> de::Deserializer<'de> for Fields {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(de::value::MapDeserializer::new(
            self.0.into_iter().map(|(name, value)| (name, Field(value))),
        ))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// One field's text.
struct Field(String);

impl<'de> IntoDeserializer<'de, de::value::Error> for Field {
    type Deserializer = Field;

    fn into_deserializer(self) -> Field {
        self
    }
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            let n = self.0.parse::<$ty>().map_err(de::Error::custom)?;
            visitor.$visit(n)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Field {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let b = self.0.parse::<bool>().map_err(de::Error::custom)?;
        visitor.visit_bool(b)
    }

    parse_number! {
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16, deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64, deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct newtype_struct seq
        tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::Fields;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Args {
        name: String,
        user_id: i64,
        days: u32,
        ticked: Option<String>,
        note: Option<String>,
        #[serde(default)]
        later: String,
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn fields_read_as_serde_qs_reads_flat_fields() {
        let args = Args::deserialize(fields(&[
            ("name", "山田 太郎 & co+1"),
            ("user_id", "42"),
            ("days", "30"),
            ("note", ""),
            ("unknown", "ignored"),
        ]))
        .expect("the fields read");
        assert_eq!(
            args,
            Args {
                name: "山田 太郎 & co+1".into(),
                user_id: 42,
                days: 30,
                ticked: None,
                note: None,
                later: String::new(),
            }
        );
        let ticked = Args::deserialize(fields(&[
            ("name", ""),
            ("user_id", "-1"),
            ("days", "0"),
            ("ticked", "on"),
        ]))
        .expect("the fields read");
        assert_eq!(ticked.name, "");
        assert_eq!(ticked.ticked.as_deref(), Some("on"));
    }

    #[test]
    fn a_wrong_or_missing_field_is_refused() {
        let e = Args::deserialize(fields(&[("name", "a"), ("user_id", "x"), ("days", "1")]))
            .expect_err("not a number");
        assert!(e.to_string().contains("invalid digit"), "{e}");
        let e = Args::deserialize(fields(&[("name", "a"), ("days", "1")]))
            .expect_err("user_id missing");
        assert!(e.to_string().contains("user_id"), "{e}");
    }
}
