//! The little DER this crate needs: writing the PKCS#12 structure, and reading just enough of
//! the caller's certificate and PKCS#8 key to check that they belong together.
//!
//! Written by hand instead of pulling the `der` crate into the browser bundle: the writer only
//! ever produces definite, minimal lengths, and [`set_of`] sorts its elements (X.690 11.6), so
//! the output is DER by construction. The round-trip tests read every file back with
//! `p12-keystore`, whose `der` 0.8 decoder rejects anything that is not strict DER.

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const BMP_STRING: u8 = 0x1e;
/// `[0]` constructed (EXPLICIT, or IMPLICIT of a constructed type).
pub const CONTEXT_0: u8 = 0xa0;
/// `[0]` primitive (IMPLICIT OCTET STRING, e.g. `encryptedContent`).
pub const CONTEXT_0_PRIMITIVE: u8 = 0x80;
/// `[1]` constructed (ECPrivateKey's publicKey).
pub const CONTEXT_1: u8 = 0xa1;

/// One TLV with a definite, minimal length.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed TLV whose content is the concatenation of `parts`.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// SET OF: the elements sorted by their encodings (DER, X.690 11.6).
pub fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    tlv(SET, &elements.concat())
}

/// A non-negative INTEGER.
pub fn uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes
        .iter()
        .take(bytes.len() - 1)
        .take_while(|b| **b == 0)
        .count();
    let mut content = Vec::with_capacity(5);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    tlv(INTEGER, &content)
}

/// An OBJECT IDENTIFIER from its encoded content octets.
pub fn oid(content: &[u8]) -> Vec<u8> {
    tlv(OID, content)
}

pub fn null() -> Vec<u8> {
    tlv(NULL, &[])
}

pub fn octet_string(content: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, content)
}

/// A BMPString (UTF-16BE, no byte-order mark). The caller keeps `text` inside the BMP.
pub fn bmp_string(text: &str) -> Vec<u8> {
    let content: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    tlv(BMP_STRING, &content)
}

/// `[0] EXPLICIT` around one encoded element.
pub fn explicit0(inner: &[u8]) -> Vec<u8> {
    tlv(CONTEXT_0, inner)
}

/// A reader over a run of TLVs. Accepts definite lengths only; never panics.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

/// Why the input is not the DER expected (a short, fixed description).
pub type ReadError = &'static str;

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: (tag, content).
    pub fn next_any(&mut self) -> Result<(u8, &'a [u8]), ReadError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or("truncated")?;
        if tag & 0x1f == 0x1f {
            return Err("high tag numbers are not expected");
        }
        let (&first, after_len) = after_tag.split_first().ok_or("truncated")?;
        let (len, after_len) = if first < 0x80 {
            (usize::from(first), after_len)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 {
                return Err("indefinite length (BER, not DER)");
            }
            if count > 4 {
                return Err("length too large");
            }
            let digits = after_len.get(..count).ok_or("truncated")?;
            let len = digits
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &after_len[count..])
        };
        let content = after_len.get(..len).ok_or("truncated")?;
        self.rest = &after_len[len..];
        Ok((tag, content))
    }

    /// The next element, which must have `tag`; returns its content.
    pub fn next(&mut self, tag: u8) -> Result<&'a [u8], ReadError> {
        match self.next_any()? {
            (t, content) if t == tag => Ok(content),
            _ => Err("unexpected element"),
        }
    }

    /// The next element if it has `tag`.
    pub fn next_if(&mut self, tag: u8) -> Result<Option<&'a [u8]>, ReadError> {
        if self.peek_tag() == Some(tag) {
            self.next(tag).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The one element `input` holds (nothing may follow it).
pub fn single(input: &[u8], tag: u8) -> Result<&[u8], ReadError> {
    let mut reader = Reader::new(input);
    let content = reader.next(tag)?;
    if reader.is_empty() {
        Ok(content)
    } else {
        Err("trailing data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_minimal() {
        assert_eq!(tlv(OCTET_STRING, &[]), vec![0x04, 0x00]);
        assert_eq!(tlv(OCTET_STRING, &[7; 0x7f])[..2], [0x04, 0x7f]);
        assert_eq!(tlv(OCTET_STRING, &[7; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(tlv(OCTET_STRING, &[7; 0xff])[..3], [0x04, 0x81, 0xff]);
        assert_eq!(
            tlv(OCTET_STRING, &[7; 0x100])[..4],
            [0x04, 0x82, 0x01, 0x00]
        );
        assert_eq!(
            tlv(OCTET_STRING, &vec![7; 0x1_0000])[..5],
            [0x04, 0x83, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(uint(0), vec![0x02, 0x01, 0x00]);
        assert_eq!(uint(3), vec![0x02, 0x01, 0x03]);
        assert_eq!(uint(0x80), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(2_048), vec![0x02, 0x02, 0x08, 0x00]);
        assert_eq!(uint(10_000), vec![0x02, 0x02, 0x27, 0x10]);
        assert_eq!(
            uint(u32::MAX),
            vec![0x02, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn sets_are_sorted() {
        let set = set_of(vec![vec![0x04, 0x01, 0x09], vec![0x02, 0x01, 0x05]]);
        assert_eq!(set, vec![0x31, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0x09]);
    }

    #[test]
    fn bmp_strings_are_utf16_big_endian() {
        assert_eq!(bmp_string("A山"), vec![0x1e, 0x04, 0x00, 0x41, 0x5c, 0x71]);
    }

    #[test]
    fn the_reader_reads_back_and_refuses_ber() {
        let seq = sequence(&[&uint(5), &octet_string(&[1; 300])]);
        let content = single(&seq, SEQUENCE).expect("sequence");
        let mut r = Reader::new(content);
        assert_eq!(r.next(INTEGER), Ok(&[5u8][..]));
        assert_eq!(r.next(OCTET_STRING).map(<[u8]>::len), Ok(300));
        assert!(r.is_empty());
        assert!(single(&[0x30, 0x80, 0x00, 0x00], SEQUENCE).is_err());
        assert!(single(&[0x30, 0x05, 0x00], SEQUENCE).is_err());
        assert!(single(&[0x30], SEQUENCE).is_err());
        assert!(single(&[], SEQUENCE).is_err());
        assert!(single(&[0x30, 0x00, 0x00], SEQUENCE).is_err());
        assert!(single(&[0x30, 0x85, 1, 1, 1, 1, 1], SEQUENCE).is_err());
    }
}
