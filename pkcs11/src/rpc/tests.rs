//! Tests of the codec and of the connection loop with malformed input. The module
//! is not initialised in unit tests: well-formed calls get
//! `CKR_CRYPTOKI_NOT_INITIALIZED`, which is enough to tell them from requests that
//! did not parse. Calls against a live module: `pkcs11/tests/rpc.rs`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use cryptoki_sys::*;

use super::calls::{call_id, handle, request_signature};
use super::codec::{AttrValue, Reader, Writer};
use super::*;
use crate::mechanism::Param;
use crate::object::attr::{Template, ulong_value};
use crate::vendor::CKA_FERRO_KEY_ROLE;

/// A request body for `name` with `args` already encoded.
fn request(name: &str, args: &[u8]) -> Vec<u8> {
    let id = call_id(name).expect("known call");
    let mut w = Writer::default();
    w.u32(id);
    w.array(Some(request_signature(id).as_bytes()));
    let mut out = w.into_inner().to_vec();
    out.extend_from_slice(args);
    out
}

/// The `CK_RV` of an error response, `None` for a success.
fn error_of(body: &[u8]) -> Option<CK_RV> {
    let mut r = Reader::new(body);
    if r.u32().unwrap() != 0 {
        return None;
    }
    assert_eq!(r.array().unwrap(), Some(&b"u"[..]));
    Some(r.u64().unwrap() as CK_RV)
}

fn attr(w: &mut Writer, ty: CK_ATTRIBUTE_TYPE, c_len: u32, value: impl FnOnce(&mut Writer)) {
    w.u32(ty as u32);
    w.byte(1);
    w.u32(c_len);
    value(w);
}

/// A template as p11-kit 0.24.1's client encodes it (bytes captured from it).
fn sample_template() -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(5);
    attr(&mut w, CKA_CLASS, 8, |w| w.u64(CKO_DATA as u64));
    attr(&mut w, CKA_TOKEN, 1, |w| w.byte(1));
    attr(&mut w, CKA_LABEL, 2, |w| w.array(Some(b"ab")));
    // A vendor CK_ULONG: p11-kit does not know it, so it sends the C bytes.
    attr(&mut w, CKA_FERRO_KEY_ROLE, 8, |w| w.array(Some(&(7 as CK_ULONG).to_ne_bytes())));
    attr(&mut w, CKA_ALLOWED_MECHANISMS, 16, |w| {
        w.u32(2);
        w.u64(CKM_ECDSA as u64);
        w.u64(CKM_RSA_PKCS as u64);
    });
    w.into_inner().to_vec()
}

#[test]
fn templates_decode_into_canonical_form() {
    let bytes = sample_template();
    let mut r = Reader::new(&bytes);
    let t = r.template().unwrap();
    r.finish().unwrap();
    assert_eq!(t.get(CKA_CLASS), Some(&ulong_value(CKO_DATA as u64)[..]));
    assert_eq!(t.get(CKA_TOKEN), Some(&[1u8][..]));
    assert_eq!(t.get(CKA_LABEL), Some(&b"ab"[..]));
    assert_eq!(t.get(CKA_FERRO_KEY_ROLE), Some(&ulong_value(7)[..]));
    let mechs: Vec<u8> = [CKM_ECDSA, CKM_RSA_PKCS].iter().flat_map(|m| (*m as u64).to_le_bytes()).collect();
    assert_eq!(t.get(CKA_ALLOWED_MECHANISMS), Some(&mechs[..]));
}

#[test]
fn every_truncation_of_a_template_is_refused() {
    let bytes = sample_template();
    for n in 0..bytes.len() {
        let mut r = Reader::new(&bytes[..n]);
        assert!(r.template().is_err(), "a template cut at {n} bytes was accepted");
    }
}

#[test]
fn absurd_counts_and_lengths_are_refused_without_allocating() {
    // 4 billion attributes in a 9-byte message.
    let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
    assert_eq!(r.template().unwrap_err().rv(), CKR_DEVICE_ERROR);
    // A byte array of 2 GiB.
    let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 1]);
    assert!(r.array().is_err());
    // An attribute query of 2^32-1 entries.
    let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
    assert!(r.attribute_query().is_err());
    // A null byte array is not an error.
    let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(r.array().unwrap(), None);
}

#[test]
fn nested_templates_decode_and_are_bounded() {
    // CKA_WRAP_TEMPLATE { CKA_EXTRACTABLE = false }
    let mut w = Writer::default();
    w.u32(1);
    attr(&mut w, CKA_WRAP_TEMPLATE, 24, |w| {
        w.u32(1);
        attr(w, CKA_EXTRACTABLE, 1, |w| w.byte(0));
    });
    let bytes = w.into_inner();
    let t = Reader::new(&bytes).template().unwrap();
    let inner = Template::decode(t.get(CKA_WRAP_TEMPLATE).unwrap()).unwrap();
    assert_eq!(inner.get(CKA_EXTRACTABLE), Some(&[0u8][..]));

    // Templates nested deeper than MAX_DEPTH.
    let mut body = Vec::new();
    for _ in 0..=codec::MAX_DEPTH + 1 {
        let mut w = Writer::default();
        w.u32(1);
        attr(&mut w, CKA_WRAP_TEMPLATE, 24, |_| {});
        body.extend_from_slice(&w.into_inner());
    }
    body.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(Reader::new(&body).template().unwrap_err().rv(), CKR_ATTRIBUTE_VALUE_INVALID);

    // p11-kit 0.24 sends CKA_DERIVE_TEMPLATE as the client's raw structs.
    let mut w = Writer::default();
    w.u32(1);
    attr(&mut w, CKA_DERIVE_TEMPLATE, 24, |w| w.array(Some(&[0u8; 24])));
    assert_eq!(Reader::new(&w.into_inner()).template().unwrap_err().rv(), CKR_ATTRIBUTE_VALUE_INVALID);
}

#[test]
fn mechanisms_decode_as_p11_kit_sends_them() {
    // Bytes captured from p11-kit 0.24.1's client.
    let pss = hex("0000000d000000000000025000000000000000020000000000000020");
    let m = Reader::new(&pss).mechanism().unwrap();
    assert_eq!(m.param, Param::Pss { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 });

    let oaep = hex("00000009000000000000025000000000000000020000000000000001000000036c626c");
    let m = Reader::new(&oaep).mechanism().unwrap();
    assert_eq!(m.param, Param::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, label: b"lbl".to_vec() });

    let oaep_no_label = hex("00000009000000000000025000000000000000020000000000000001ffffffff");
    let m = Reader::new(&oaep_no_label).mechanism().unwrap();
    assert_eq!(m.param, Param::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, label: vec![] });

    let ecb = hex("00001081ffffffff");
    assert_eq!(Reader::new(&ecb).mechanism().unwrap().param, Param::None);

    let mut w = Writer::default();
    w.u32(CKM_AES_CBC_PAD as u32);
    w.array(Some(&[7u8; 16]));
    assert_eq!(Reader::new(&w.into_inner()).mechanism().unwrap().param, Param::Bytes(vec![7; 16]));

    // A GCM parameter as raw bytes is the client's pointers: refused.
    let mut w = Writer::default();
    w.u32(CKM_AES_GCM as u32);
    w.array(Some(&[0u8; 40]));
    assert_eq!(Reader::new(&w.into_inner()).mechanism().unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);

    // Truncated PSS parameters.
    for n in 4..pss.len() {
        assert!(Reader::new(&pss[..n]).mechanism().is_err());
    }
}

fn hex(s: impl AsRef<str>) -> Vec<u8> {
    let s = s.as_ref();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn attribute_values_that_do_not_fit_their_encoding_are_not_sent() {
    let mut w = Writer::default();
    let two = AttrValue::C(zeroize::Zeroizing::new(vec![1, 2]));
    assert!(!w.attribute(CKA_TOKEN, Some((2, Some(&two)))));
    assert!(!w.attribute(CKA_CLASS, Some((2, Some(&two)))));
    assert!(w.into_inner().is_empty(), "nothing is written for a refused value");
    let mut w = Writer::default();
    assert!(w.attribute(CKA_LABEL, Some((2, Some(&two)))));
    assert_eq!(&w.into_inner()[..], &hex("000000030100000002000000020102")[..]);
}

#[test]
fn malformed_requests_get_device_error_and_unknown_calls_not_supported() {
    // Too short for a call id.
    assert_eq!(error_of(&handle(&[0, 0]).body), Some(CKR_DEVICE_ERROR));
    // The error "call" and calls past p11-kit 0.24's table.
    assert_eq!(error_of(&handle(&[0, 0, 0, 0]).body), Some(CKR_FUNCTION_NOT_SUPPORTED));
    assert_eq!(error_of(&handle(&[0, 0, 0, 89, 0, 0, 0, 0]).body), Some(CKR_FUNCTION_NOT_SUPPORTED));
    // A signature that is not the call's.
    let mut w = Writer::default();
    w.u32(call_id("C_GetInfo").unwrap());
    w.array(Some(b"u"));
    assert_eq!(error_of(&handle(&w.into_inner()).body), Some(CKR_DEVICE_ERROR));
    // Arguments missing, and arguments too many.
    assert_eq!(error_of(&handle(&request("C_OpenSession", &[0; 8])).body), Some(CKR_DEVICE_ERROR));
    assert_eq!(error_of(&handle(&request("C_GetInfo", &[0])).body), Some(CKR_DEVICE_ERROR));
    // A well-formed call reaches the module (not initialised in unit tests).
    assert_eq!(error_of(&handle(&request("C_GetInfo", &[])).body), Some(CKR_CRYPTOKI_NOT_INITIALIZED));
}

#[test]
fn garbage_never_panics() {
    // A fixed pseudo-random sequence: every call id, random argument bytes.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..5000u32 {
        let id = i % 90;
        let len = (next() % 64) as usize;
        let args: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let body = if id < 88 && id != 0 { request_with_id(id, &args) } else { args };
        let reply = handle(&body);
        assert!(!reply.body.is_empty());
    }
}

fn request_with_id(id: u32, args: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(id);
    w.array(Some(request_signature(id).as_bytes()));
    let mut out = w.into_inner().to_vec();
    out.extend_from_slice(args);
    out
}

/// Writes a frame as the client does.
fn frame(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(b"client");
    out.extend_from_slice(body);
    out
}

fn read_reply(s: &mut UnixStream) -> (u32, Vec<u8>) {
    let mut h = [0u8; 12];
    s.read_exact(&mut h).unwrap();
    let code = u32::from_be_bytes(h[..4].try_into().unwrap());
    let len = u32::from_be_bytes(h[8..].try_into().unwrap()) as usize;
    let mut body = vec![0; len];
    s.read_exact(&mut body).unwrap();
    (code, body)
}

#[test]
fn a_connection_survives_garbage_bodies_and_ends_on_oversized_frames() {
    let (mut client, server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || serve_connection(server));
    client.write_all(&[0]).unwrap();
    let mut v = [9u8];
    client.read_exact(&mut v).unwrap();
    assert_eq!(v[0], PROTOCOL_VERSION);

    client.write_all(&frame(0x10, b"\xde\xad\xbe\xef garbage")).unwrap();
    let (code, body) = read_reply(&mut client);
    assert_eq!(code, 0x10);
    assert_eq!(error_of(&body), Some(CKR_FUNCTION_NOT_SUPPORTED));

    client.write_all(&frame(0x11, &request("C_GetInfo", &[]))).unwrap();
    let (code, body) = read_reply(&mut client);
    assert_eq!(code, 0x11);
    assert_eq!(error_of(&body), Some(CKR_CRYPTOKI_NOT_INITIALIZED));

    // A header that announces 4 GiB: the connection ends, nothing is allocated.
    let mut h = Vec::new();
    h.extend_from_slice(&0x12u32.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&u32::MAX.to_be_bytes());
    client.write_all(&h).unwrap();
    let err = t.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0, "the server closed the connection");
}

#[test]
fn a_connection_ends_cleanly_at_end_of_stream_and_on_truncation() {
    let (client, server) = UnixStream::pair().unwrap();
    drop(client);
    serve_connection(server).unwrap();

    let (mut client, server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || serve_connection(server));
    client.write_all(&[0]).unwrap();
    client.read_exact(&mut [0u8]).unwrap();
    client.write_all(&[0, 0, 0, 0x10, 0, 0]).unwrap();
    drop(client);
    assert_eq!(t.join().unwrap().unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
}
