//! The one JSON encoding of every server function's answer (and of `UiError`): the same
//! bytes as server_fn's `Json`, but read in the browser with `serde_json::from_str`, the
//! reader Leptos uses for the resources a page hydrates from. With server_fn's own `Json`
//! (`from_slice`) every type a page both hydrates and fetches was deserialised by two copies
//! of serde_json's code (issue 16: the browser bundle at most 400 KB gzip).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::{DeserializeOwned, Error as _};
use serde::Serialize;

/// JSON, `application/json`, read from text.
pub struct JsonText;

/// A server function's answer in a `POST` response body, as JSON (`output = JsonOut`).
pub type JsonOut = Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}
