//! The PKCS#12 key derivation (RFC 7292, appendix B.2), used for the compatible profile's
//! 3DES key and IV and for the MAC key of both profiles.
//!
//! Written here (about 40 lines) rather than taken from RustCrypto's `pkcs12` 0.1, whose `kdf`
//! feature also brings `cms`, `x509-cert` and `der` into the browser build. The tests check it
//! against published vectors, and every file is read back by `p12-keystore`, which derives
//! with the `pkcs12` 0.2 implementation.

use sha2::digest::core_api::BlockSizeUser;
use sha2::Digest;
use zeroize::Zeroizing;

/// What the derived bytes are for (the "ID" byte of RFC 7292 B.3).
#[derive(Clone, Copy)]
pub enum Purpose {
    EncryptionKey = 1,
    Iv = 2,
    Mac = 3,
}

/// The password as RFC 7292 B.1 wants it: BMPString octets (UTF-16BE) and two zero octets.
/// The caller has refused characters outside the BMP.
pub fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    out.extend(password.encode_utf16().flat_map(u16::to_be_bytes));
    out.extend_from_slice(&[0, 0]);
    out
}

/// Derives `len` bytes from the BMP password (as from [`bmp_password`]) and `salt`.
pub fn derive<D: Digest + BlockSizeUser>(
    bmp_password: &[u8],
    salt: &[u8],
    purpose: Purpose,
    iterations: u32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let v = D::block_size();
    let u = <D as Digest>::output_size();
    // 1. D: v copies of the ID byte.
    let diversifier = vec![purpose as u8; v];
    // 2.-4. I = S || P, each repeated to a multiple of v bytes.
    let repeat = |x: &[u8]| -> Vec<u8> {
        if x.is_empty() {
            Vec::new()
        } else {
            x.iter()
                .copied()
                .cycle()
                .take(x.len().div_ceil(v) * v)
                .collect()
        }
    };
    let mut i_block = Zeroizing::new([repeat(salt), repeat(bmp_password)].concat());
    let mut out = Zeroizing::new(Vec::with_capacity(len + u));
    loop {
        // 6a. A = H^r(D || I)
        let mut a = D::new()
            .chain_update(&diversifier)
            .chain_update(&*i_block)
            .finalize();
        for _ in 1..iterations {
            a = D::digest(&a);
        }
        out.extend_from_slice(&a);
        if out.len() >= len {
            out.truncate(len);
            return out;
        }
        // 6b.-6c. B = A repeated to v bytes; each v-byte block I_j = (I_j + B + 1) mod 2^(8v).
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for chunk in i_block.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in chunk.iter_mut().zip(&b).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::Sha1;
    use sha2::Sha256;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // From RustCrypto's pkcs12 crate (tests/kdf.rs, checked there against OpenSSL's
    // PKCS12_key_gen_utf8).
    #[test]
    fn sha256_vectors() {
        let pass = bmp_password("ge@äheim");
        let salt = [0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8];
        let d = |purpose, rounds, len| hex(&derive::<Sha256>(&pass, &salt, purpose, rounds, len));
        assert_eq!(
            d(Purpose::EncryptionKey, 100, 32),
            "fae4d4957a3cc781e1180b9d4fb79c1e0c8579b746a3177e5b0768a3118bf863"
        );
        assert_eq!(
            d(Purpose::Iv, 100, 32),
            "e5ff813bc6547de5155b14d2fada85b3201a977349db6e26ccc998d9e8f83d6c"
        );
        assert_eq!(
            d(Purpose::Mac, 100, 32),
            "136355ed9434516682534f46d63956db5ff06b844702c2c1f3b46321e2524a4d"
        );
        assert_eq!(d(Purpose::Mac, 100, 12), "136355ed9434516682534f46");
        assert_eq!(
            d(Purpose::Mac, 1000, 32),
            "3f9113f05c30a996c4a516409bdac9d065f44296ccd52bb75de3fcfdbe2bf130"
        );
        assert_eq!(
            d(Purpose::EncryptionKey, 1000, 100),
            "2b95a0569b63f641fae1efca32e84db3699ab74540628ba66283b58cf5400527\
             d8d0ebe2ccbf768c51c4d8fbd1bb156be06c1c59cbb69e44052ffc37376fdb47\
             b2de7f9e543de9d096d8e5474b220410ff1c5d8bb7e5bc0f61baeaa12fd0da1d\
             7a970172"
        );
    }

    // From `openssl kdf ... PKCS12KDF` (OpenSSL 3.0) with the BMP password in hex, a 16-byte
    // salt and a Japanese password, as the compatible profile uses it.
    #[test]
    fn sha1_vectors_from_openssl() {
        let pass = bmp_password("証明書パスワード2026");
        let salt: Vec<u8> = (0..16u8).map(|i| i * 0x11).collect();
        let d = |purpose, rounds, len| hex(&derive::<Sha1>(&pass, &salt, purpose, rounds, len));
        assert_eq!(
            d(Purpose::EncryptionKey, 2_048, 24),
            "7a499a51da54c915c965edfc0a3cc8d44c553a04a66fd9ab"
        );
        assert_eq!(
            d(Purpose::Iv, 2_048, 24),
            "4a0fb22b097d6da52f887dfba27bd1fa61e0c8b4731290a2"
        );
        assert_eq!(
            d(Purpose::Mac, 2_048, 24),
            "fb55adab2ee480a2d6ebfed6d4f276d30f4bbe80d662ee1a"
        );
        assert_eq!(
            d(Purpose::EncryptionKey, 3, 70),
            "f738693eba1d220ff34249cea3f16ca7a37372a4a3cfbd41cdce7da35959c130\
             8d903017c281e26f9e68fe480e005dc9693b5b1892a0d671c871d18417d7d138\
             ccfc928b667e"
        );
    }
}
