//! How the browser reads the JSON it gets: every server function's answer (`output =
//! JsonOut`), `UiError`, and the data each page hydrates from (resources made with
//! [`page_resource`]). The bytes on the wire are the same JSON as server_fn's `Json` and
//! Leptos' default resource codec; only the reader in the browser differs: the browser's own
//! `JSON.parse`, walked by serde-wasm-bindgen, instead of serde_json's parser compiled into
//! the bundle once for every type, twice when a type was both hydrated (`from_str`) and
//! fetched (`from_slice`) (issue 16: the browser bundle at most 400 KB gzip). The server
//! writes with serde_json and, where it reads (tests, SSR), reads with serde_json.

use leptos::prelude::Resource;
use leptos::server::codee::{Decoder, Encoder};
use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::future::Future;

/// JSON, `application/json`: written with serde_json, read by [`from_json`].
pub struct JsonText;

/// A server function's answer in a `POST` response body, as JSON (`output = JsonOut`).
pub type JsonOut = Post<JsonText>;

/// JSON that could not be read as the type expected.
#[derive(Debug)]
pub struct JsonError(String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads `text` as JSON: in the browser with `JSON.parse` and serde-wasm-bindgen, elsewhere
/// with serde_json.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    #[cfg(feature = "hydrate")]
    {
        let value = js_sys::JSON::parse(text).map_err(|_| JsonError("not JSON".to_string()))?;
        serde_wasm_bindgen::from_value(value).map_err(|e| JsonError(e.to_string()))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        serde_json::from_str(text).map_err(|e| JsonError(e.to_string()))
    }
}

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
    type Error = JsonError;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|e| JsonError(e.to_string()))?;
        from_json(text)
    }
}

/// The resource codec of [`page_resource`]: the same JSON as Leptos' default
/// (`JsonSerdeCodec`), read by [`from_json`].
pub struct PageJson;

impl<T: Serialize> Encoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for PageJson {
    type Error = JsonError;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        from_json(val)
    }
}

/// `Resource::new` with [`PageJson`]: the data a page renders on the server and hydrates
/// from in the browser.
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, PageJson>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
