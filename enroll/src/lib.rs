//! The browser half of self-service enrolment (issue 17), loaded only by `/enroll` and by the
//! check page's renewal control, as its own small bundle (no Leptos):
//!
//! 1. [`make_key`]: WebCrypto makes the key pair (RSASSA-PKCS1-v1_5 2048-bit, e = 65537,
//!    SHA-256; or ECDSA P-256). It is extractable only so that the private key can go into the
//!    `.p12` as PKCS#8; it never leaves this page otherwise.
//! 2. [`KeyPair::csr`]: the PKCS#10 request is built here ([`csr`]) around the exported public
//!    key and signed through `SubtleCrypto.sign`; only this request is sent to the server.
//! 3. [`KeyPair::p12`]: the `.p12` is built here by `certdesk-p12` from the exported key, the
//!    certificate and chain the server returned, and the password, with randomness from
//!    `crypto.getRandomValues`.
//! 4. [`offer_download`]: the file is offered as a download (Blob, object URL, `a[download]`).
//!
//! Errors reach the page's script as `{code, field, ja, en}` objects.

pub mod csr;

use certdesk_domain::distribution::{check_typed_password, generate_password};
use certdesk_domain::enroll_browser::EnrollPageError;
use certdesk_domain::lang::Message;
use certdesk_p12::rand_core::{self, CryptoRng, RngCore};
use certdesk_p12::{write_p12, P12Input, P12Profile};
use csr::KeyType;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{CryptoKey, SubtleCrypto};

/// The key pair WebCrypto made, with the type the organisation's profile asked for.
#[wasm_bindgen]
#[derive(Clone)]
pub struct KeyPair {
    private: CryptoKey,
    public: CryptoKey,
    key_type: KeyType,
}

/// Makes the key pair for `key_type` (`rsa2048` or `ecdsa_p256`).
#[wasm_bindgen]
pub async fn make_key(key_type: String) -> Result<KeyPair, JsValue> {
    let kind = KeyType::parse(&key_type)
        .ok_or_else(|| no_webcrypto(format!("unknown key type {key_type}")))?;
    let subtle = subtle()?;
    let algorithm = key_algorithm(kind)?;
    let usages = Array::of2(&"sign".into(), &"verify".into());
    // Extractable: the private key is exported once, as PKCS#8, into the .p12 made here.
    let pair = await_promise(subtle.generate_key_with_object(&algorithm, true, &usages)).await?;
    let private: CryptoKey = Reflect::get(&pair, &"privateKey".into())
        .map_err(webcrypto_error)?
        .dyn_into()
        .map_err(webcrypto_error)?;
    let public: CryptoKey = Reflect::get(&pair, &"publicKey".into())
        .map_err(webcrypto_error)?
        .dyn_into()
        .map_err(webcrypto_error)?;
    Ok(KeyPair {
        private,
        public,
        key_type: kind,
    })
}

#[wasm_bindgen]
impl KeyPair {
    /// The DER of the signed PKCS#10 request (a promise of a `Uint8Array`).
    pub fn csr(&self) -> Promise {
        let key = self.clone();
        future_to_promise(async move {
            let subtle = subtle()?;
            let spki = export(&subtle, "spki", &key.public).await?;
            let info = csr::request_info(&spki).map_err(der_error)?;
            let tbs = der::Encode::to_der(&info).map_err(der_error)?;
            let signature = Uint8Array::new(
                &await_promise(subtle.sign_with_object_and_u8_array(
                    &sign_algorithm(key.key_type)?,
                    &key.private,
                    &tbs,
                ))
                .await?,
            )
            .to_vec();
            let request = csr::request_der(info, key.key_type, &signature).map_err(der_error)?;
            Ok(Uint8Array::from(request.as_slice()).into())
        })
    }

    /// The `.p12` (a promise of a `Uint8Array`): this key (exported as PKCS#8 only here),
    /// `certificate` and `chain` (DER, as the server returned them), `friendly_name`,
    /// `password`, in `profile` (`modern` or `compatible`).
    pub fn p12(
        &self,
        certificate: Vec<u8>,
        chain: Array,
        friendly_name: String,
        password: String,
        profile: String,
    ) -> Promise {
        let key = self.clone();
        future_to_promise(async move {
            let profile = P12Profile::parse(&profile)
                .ok_or_else(|| file_error(format!("unknown profile {profile}")))?;
            let chain: Vec<Vec<u8>> = chain.iter().map(|c| Uint8Array::new(&c).to_vec()).collect();
            let pkcs8 = Zeroizing(export(&subtle()?, "pkcs8", &key.private).await?);
            let mut rng = WebRng(crypto()?);
            let file = write_p12(
                &P12Input {
                    key_pkcs8_der: &pkcs8.0,
                    cert_der: &certificate,
                    ca_chain_der: &chain,
                    friendly_name: &friendly_name,
                    password: &password,
                },
                profile,
                &mut rng,
            )
            .map_err(|e| file_error(e.to_string()))?;
            Ok(Uint8Array::from(file.as_slice()).into())
        })
    }
}

/// The exported private key, overwritten when dropped.
struct Zeroizing(Vec<u8>);

impl Drop for Zeroizing {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.0);
    }
}

/// `crypto.getRandomValues` as the RNG of the `.p12`'s salts and IV.
struct WebRng(web_sys::Crypto);

impl RngCore for WebRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // Without randomness there must be no file: a failure stops here (the page shows the
        // panic as E-WEB-003) rather than writing predictable salts.
        #[allow(clippy::expect_used)]
        self.try_fill_bytes(dest)
            .expect("crypto.getRandomValues failed");
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        // getRandomValues gives at most 65 536 bytes a call.
        for chunk in dest.chunks_mut(65_536) {
            self.0.get_random_values_with_u8_array(chunk).map_err(|_| {
                rand_core::Error::from(
                    std::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                        .unwrap_or(std::num::NonZeroU32::MIN),
                )
            })?;
        }
        Ok(())
    }
}

impl CryptoRng for WebRng {}

/// `E-DIST-001` (as for a typed password anywhere in certdesk) or `E-WEB-008` when the two
/// differ; `null` when the password may be used.
#[wasm_bindgen]
pub fn check_password(password: &str, confirmation: &str) -> JsValue {
    if let Err(e) = check_typed_password(password) {
        return coded(e.code(), e.field(), &e.message());
    }
    if password != confirmation {
        return page_error(EnrollPageError::PasswordsDiffer);
    }
    JsValue::NULL
}

/// A password certdesk makes (16 characters without look-alikes, ~93 bits), from
/// `crypto.getRandomValues`.
#[wasm_bindgen]
pub fn new_password() -> Result<String, JsValue> {
    let crypto = crypto()?;
    let mut pool = [0u8; 64];
    let mut used = pool.len();
    let mut failed = None;
    let password = generate_password(|| {
        if used == pool.len() {
            if let Err(e) = crypto.get_random_values_with_u8_array(&mut pool) {
                failed = Some(e);
            }
            used = 0;
        }
        used += 1;
        pool[used - 1]
    });
    match failed {
        Some(e) => Err(webcrypto_error(e)),
        None => Ok(password),
    }
}

/// Offers `bytes` as the download `file_name` (a `.p12`): a Blob, an object URL and a click
/// on an `a[download]` that is never put in the page.
#[wasm_bindgen]
pub fn offer_download(bytes: &[u8], file_name: &str) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| no_webcrypto("no window".into()))?;
    let document = window
        .document()
        .ok_or_else(|| no_webcrypto("no document".into()))?;
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-pkcs12");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    a.set_href(&url);
    a.set_download(file_name);
    a.click();
    // The file is the private key: its URL lives only until the next download is offered
    // or the page goes (the browser has taken its copy once the click was handled).
    LAST_URL.with(|last| {
        if let Some(old) = last.replace(Some(url)) {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
    });
    Ok(())
}

thread_local! {
    static LAST_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn key_algorithm(kind: KeyType) -> Result<Object, JsValue> {
    let a = Object::new();
    match kind {
        KeyType::Rsa2048 => {
            Reflect::set(&a, &"name".into(), &"RSASSA-PKCS1-v1_5".into())?;
            Reflect::set(&a, &"modulusLength".into(), &2048.into())?;
            Reflect::set(
                &a,
                &"publicExponent".into(),
                &Uint8Array::from([1u8, 0, 1].as_slice()),
            )?;
            Reflect::set(&a, &"hash".into(), &"SHA-256".into())?;
        }
        KeyType::EcdsaP256 => {
            Reflect::set(&a, &"name".into(), &"ECDSA".into())?;
            Reflect::set(&a, &"namedCurve".into(), &"P-256".into())?;
        }
    }
    Ok(a)
}

fn sign_algorithm(kind: KeyType) -> Result<Object, JsValue> {
    let a = Object::new();
    match kind {
        KeyType::Rsa2048 => {
            Reflect::set(&a, &"name".into(), &"RSASSA-PKCS1-v1_5".into())?;
        }
        KeyType::EcdsaP256 => {
            Reflect::set(&a, &"name".into(), &"ECDSA".into())?;
            Reflect::set(&a, &"hash".into(), &"SHA-256".into())?;
        }
    }
    Ok(a)
}

fn crypto() -> Result<web_sys::Crypto, JsValue> {
    let window = web_sys::window().ok_or_else(|| no_webcrypto("no window".into()))?;
    window.crypto().map_err(webcrypto_error)
}

/// `crypto.subtle`, which browsers give only to secure contexts (HTTPS, localhost).
fn subtle() -> Result<SubtleCrypto, JsValue> {
    let crypto = crypto()?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(webcrypto_error)?;
    if subtle.is_undefined() || subtle.is_null() {
        return Err(no_webcrypto(
            "crypto.subtle is missing (not a secure context)".into(),
        ));
    }
    Ok(subtle.unchecked_into())
}

async fn export(subtle: &SubtleCrypto, format: &str, key: &CryptoKey) -> Result<Vec<u8>, JsValue> {
    let buffer = await_promise(subtle.export_key(format, key)).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Awaits a WebCrypto promise; a throw or a rejection is `E-WEB-007`.
async fn await_promise(p: Result<Promise, JsValue>) -> Result<JsValue, JsValue> {
    JsFuture::from(p.map_err(webcrypto_error)?)
        .await
        .map_err(webcrypto_error)
}

fn webcrypto_error(e: JsValue) -> JsValue {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "WebCrypto".to_string());
    no_webcrypto(detail)
}

fn no_webcrypto(detail: String) -> JsValue {
    page_error(EnrollPageError::NoWebCrypto { detail })
}

fn file_error(detail: String) -> JsValue {
    page_error(EnrollPageError::FileFailed { detail })
}

fn der_error(e: der::Error) -> JsValue {
    no_webcrypto(format!("DER: {e}"))
}

fn page_error(e: EnrollPageError) -> JsValue {
    coded(e.code(), e.field(), &e.message())
}

/// `{code, field, ja, en}` for the page's script.
fn coded(code: &str, field: Option<&str>, message: &Message) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"code".into(), &code.into());
    let _ = Reflect::set(
        &o,
        &"field".into(),
        &field.map(JsValue::from).unwrap_or(JsValue::NULL),
    );
    let _ = Reflect::set(&o, &"ja".into(), &message.ja.as_str().into());
    let _ = Reflect::set(&o, &"en".into(), &message.en.as_str().into());
    o.into()
}
