//! `CKM_FERRO_TIMESTAMP` (docs/attestation.md, "Timestamps"): requests made by
//! `openssl ts -query`, tokens signed through the module, checked by
//! `openssl ts -reply` and `openssl ts -verify` against the chain read from the
//! token, and decoded here field by field.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::ptr;

use common::*;
use der::asn1::{AnyRef, GeneralizedTime, IntRef, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use ferrohsm_store::{KdfParams, Store};

/// As DESIGN.md fixes it (not the module's constant, so that a wrong one fails here).
const CKM_FERRO_TIMESTAMP: CK_MECHANISM_TYPE = 0xC648_0006;
const ROLE_ROOT: CK_ULONG = 1;
const ROLE_DEVICE: CK_ULONG = 2;
const ROLE_PARTITION: CK_ULONG = 3;
const ROLE_TIMESTAMP: CK_ULONG = 4;
const ROLE_AUDIT: CK_ULONG = 5;

/// `id-ferro-tsaPolicy`, as openssl prints it.
const POLICY: &str = "2.25.36854759746227648345030761591017072291.4";

// ---------------------------------------------------------------------------
// Reading tokens

/// ContentInfo, with the SignedData left encoded.
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: AnyRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// SignedData, its parts left encoded but the content.
#[derive(Sequence)]
struct SignedData<'a> {
    version: u8,
    digest_algorithms: AnyRef<'a>,
    encap_content_info: Encapsulated<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true", optional = "true")]
    certificates: Option<Vec<AnyRef<'a>>>,
    signer_infos: AnyRef<'a>,
}

#[derive(Sequence)]
struct Encapsulated<'a> {
    e_content_type: AnyRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    e_content: &'a OctetStringRef,
}

/// TSTInfo as the module writes it (RFC 3161 §2.4.2; no accuracy, no ordering).
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: AnyRef<'a>,
    message_imprint: AnyRef<'a>,
    serial_number: UintRef<'a>,
    gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<AnyRef<'a>>,
}

/// TimeStampReq as openssl writes it (no extensions; a policy, when it has one,
/// with arcs of 32 bits).
#[derive(Sequence)]
struct TimeStampReq<'a> {
    version: u8,
    message_imprint: AnyRef<'a>,
    #[asn1(optional = "true")]
    req_policy: Option<der::asn1::ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<IntRef<'a>>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

/// What a token says, decoded.
struct Token {
    /// The policy OID, DER.
    policy: Vec<u8>,
    imprint: Vec<u8>,
    serial: u64,
    gen_time: u64,
    nonce: Option<Vec<u8>>,
    has_tsa_name: bool,
    certificates: usize,
}

fn read_token(der: &[u8]) -> Token {
    let ci = ContentInfo::from_der(der).expect("a ContentInfo, DER");
    // id-signedData
    assert_eq!(ci.content_type.value(), [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]);
    let sd: SignedData<'_> = ci.content.decode_as().expect("a SignedData");
    assert_eq!(sd.version, 3, "RFC 5652 §5.1: version 3 for a content type other than id-data");
    // id-ct-TSTInfo 1.2.840.113549.1.9.16.1.4
    assert_eq!(
        sd.encap_content_info.e_content_type.value(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04]
    );
    let tst = TstInfo::from_der(sd.encap_content_info.e_content.as_bytes()).expect("a TSTInfo");
    assert_eq!(tst.version, 1);
    let serial = tst.serial_number.as_bytes();
    assert!(serial.len() <= 8);
    Token {
        policy: tst.policy.to_der().unwrap(),
        imprint: tst.message_imprint.to_der().unwrap(),
        serial: serial.iter().fold(0, |n, b| n << 8 | u64::from(*b)),
        gen_time: tst.gen_time.to_unix_duration().as_secs(),
        nonce: tst.nonce.map(|n| n.to_der().unwrap()),
        has_tsa_name: tst.tsa.is_some(),
        certificates: sd.certificates.map_or(0, |c| c.len()),
    }
}

/// The policy's DER, built from its dotted form by openssl.
fn policy_der() -> Vec<u8> {
    let conf = format!("asn1=OID:{POLICY}\n");
    openssl(&["asn1parse", "-genconf", "/dev/stdin", "-noout", "-out", "/dev/stdout"], conf.as_bytes())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

// ---------------------------------------------------------------------------
// The token

fn data_ptr(data: &[u8]) -> *mut u8 {
    if data.is_empty() { ptr::null_mut() } else { data.as_ptr() as *mut u8 }
}

/// `C_SignInit(CKM_FERRO_TIMESTAMP, key)` then `C_Sign(data)` with a length query
/// first; the length answered must be the length of the bytes returned.
fn timestamp(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match call!(C_SignInit, s, &mut mech(CKM_FERRO_TIMESTAMP), key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n: CK_ULONG = 0;
    match call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    assert!(n > 0, "the length query answers a length");
    let mut out = vec![0u8; n as usize];
    let mut got = n;
    assert_rv!(call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n, "the length query answered the length of the bytes returned");
    Ok(out)
}

/// The one object of `class` with `role` in the session's token.
fn by_role(h: &Hsm, s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS, role: CK_ULONG) -> CK_OBJECT_HANDLE {
    let all = h.find(s, &Tmpl::new().class(class).ulong(CKA_FERRO_KEY_ROLE, role));
    assert_eq!(all.len(), 1, "one object of class {class:#x} and role {role}");
    all[0]
}

/// The partition's timestamp private key.
fn ts_key(h: &Hsm, s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    by_role(h, s, CKO_PRIVATE_KEY, ROLE_TIMESTAMP)
}

/// The files a relying party verifies with, read from the token with no login:
/// `root.pem` (the admin token's "ferrohsm root"), `chain.pem` (the device
/// certificate and the partition's timestamp certificate) and `tsa.pem` (the
/// timestamp certificate alone).
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn read(h: &Hsm, slot: CK_SLOT_ID) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let a = h.open(ADMIN_SLOT, false);
        let p = h.open(slot, false);
        let cert = |s, role| h.get(s, by_role(h, s, CKO_CERTIFICATE, role), CKA_VALUE).unwrap();
        let pem = |der: &[u8]| openssl(&["x509", "-inform", "DER", "-outform", "PEM"], der);
        let (root, device, tsa) = (cert(a, ROLE_ROOT), cert(a, ROLE_DEVICE), cert(p, ROLE_TIMESTAMP));
        std::fs::write(dir.path().join("root.pem"), pem(&root)).unwrap();
        std::fs::write(dir.path().join("chain.pem"), [pem(&device), pem(&tsa)].concat()).unwrap();
        std::fs::write(dir.path().join("device.pem"), pem(&device)).unwrap();
        std::fs::write(dir.path().join("tsa.pem"), pem(&tsa)).unwrap();
        assert_rv!(call!(C_CloseSession, a), CKR_OK);
        assert_rv!(call!(C_CloseSession, p), CKR_OK);
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` as `name`; its path.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `openssl ts -query -data <data> <args>`: the request (DER).
    fn query(&self, data: &Path, args: &[&str]) -> Vec<u8> {
        let mut a = vec!["ts", "-query", "-data", path(data)];
        a.extend(args);
        openssl(&a, &[])
    }

    /// `openssl ts -verify <what> -in <token> -token_in -CAfile root.pem -untrusted <untrusted>`.
    fn verify(&self, what: &[&str], token: &Path, untrusted: &str) -> Run {
        let mut a = vec!["ts", "-verify"];
        a.extend(what);
        let (root, untrusted) = (self.path("root.pem"), self.path(untrusted));
        a.extend(["-in", path(token), "-token_in", "-CAfile", path(&root), "-untrusted", path(&untrusted)]);
        run_openssl(&a, &[])
    }
}

/// `openssl ts -reply -in <token> -token_in -token_out -text`.
fn reply_text(token: &Path) -> String {
    String::from_utf8(openssl(&["ts", "-reply", "-in", path(token), "-token_in", "-token_out", "-text"], &[])).unwrap()
}

/// The value after `label:` on its line of openssl's text.
fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim_start_matches(':').trim()))
        .unwrap_or_else(|| panic!("no {label} in\n{text}"))
}

// ---------------------------------------------------------------------------
// Tokens that openssl verifies

/// The whole path a relying party takes: openssl makes the request, the module
/// signs it, openssl reads the token and verifies it with the chain read from the
/// token (no login), against the data and against the request (which checks the
/// nonce and the policy too); the token says what it should, field by field.
#[test]
fn an_openssl_request_gets_a_token_that_openssl_verifies() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let f = Files::read(&h, 0);
    let data = f.write("data.txt", b"a document to be timestamped\n");
    let other = f.write("other.txt", b"a document that was not timestamped\n");
    let mut serials = Vec::new();
    for hash in ["-sha256", "-sha384", "-sha512"] {
        let req = f.query(&data, &[hash, "-cert"]);
        let req_path = f.write("req.tsq", &req);
        let before = unix_now();
        let der = timestamp(s, key, &req).unwrap_or_else(|rv| panic!("{hash}: {rv:#x}"));
        let token = f.write("token.tst", &der);

        // openssl reads it: our policy, a serial, the nonce, our TSA's name.
        let text = reply_text(&token);
        assert_eq!(line(&text, "Policy OID"), POLICY, "{hash}\n{text}");
        assert_eq!(line(&text, "Version"), "1");
        assert!(line(&text, "TSA").contains("CN=ferrohsm partition 0 timestamp"), "{text}");
        let nonce = line(&text, "Nonce");
        assert!(nonce.starts_with("0x"), "openssl's nonce is echoed: {text}");

        // It verifies, against the data and against the request.
        let r = f.verify(&["-data", path(&data)], &token, "chain.pem");
        assert!(r.ok && r.text().contains("Verification: OK"), "{hash}: {}{}", r.text(), r.stderr);
        let r = f.verify(&["-queryfile", path(&req_path)], &token, "chain.pem");
        assert!(r.ok && r.text().contains("Verification: OK"), "{hash} against the request: {}", r.stderr);
        // Not against other data.
        let r = f.verify(&["-data", path(&other)], &token, "chain.pem");
        assert!(!r.ok && !r.text().contains("Verification: OK"), "{hash}: other data must fail");
        assert!(r.stderr.contains("message imprint mismatch"), "{hash}: {}", r.stderr);
        // Nor against another root.
        std::fs::write(f.path("other-root.pem"), openssl(&["x509", "-inform", "DER"], &certificate("other"))).unwrap();
        let r = run_openssl(
            &[
                "ts",
                "-verify",
                "-data",
                path(&data),
                "-in",
                path(&token),
                "-token_in",
                "-CAfile",
                path(&f.path("other-root.pem")),
                "-untrusted",
                path(&f.path("chain.pem")),
            ],
            &[],
        );
        assert!(!r.ok, "{hash}: another root must fail");

        // The fields, decoded.
        let t = read_token(&der);
        let q = TimeStampReq::from_der(&req).unwrap();
        assert_eq!(t.policy, policy_der(), "{hash}: policy");
        assert_eq!(t.imprint, q.message_imprint.to_der().unwrap(), "{hash}: the imprint as sent");
        assert_eq!(t.nonce, q.nonce.map(|n| n.to_der().unwrap()), "{hash}: the nonce echoed");
        assert!(t.nonce.is_some());
        assert!(q.cert_req);
        assert_eq!(t.certificates, 3, "{hash}: certReq: the TSA's certificate, the device's and the root");
        assert!(t.has_tsa_name);
        assert!(t.gen_time >= before && t.gen_time <= unix_now(), "{hash}: genTime is now");
        serials.push(t.serial);
    }
    // Unique and increasing: one serial per token, the length query and the call
    // that fetched it sharing one (the length query computed the token once).
    assert_eq!(serials, vec![serials[0], serials[0] + 1, serials[0] + 2], "serials");
}

/// Without certReq (openssl's default) the token carries no certificate (RFC 3161
/// §2.4.1); it verifies when the relying party has the TSA's certificate, and not
/// otherwise. A request without a nonce gets a token without one.
#[test]
fn without_cert_req_the_token_carries_no_certificate() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let f = Files::read(&h, 0);
    let data = f.write("data.txt", b"no certificates please\n");
    let req = f.query(&data, &["-sha256", "-no_nonce"]);
    let der = timestamp(s, key, &req).unwrap();
    let token = f.write("token.tst", &der);
    let t = read_token(&der);
    assert_eq!(t.certificates, 0);
    assert_eq!(t.nonce, None);
    let r = f.verify(&["-data", path(&data)], &token, "chain.pem");
    assert!(r.ok, "with the TSA certificate from the token: {}", r.stderr);
    let r = f.verify(&["-data", path(&data)], &token, "device.pem");
    assert!(!r.ok, "without the TSA certificate there is no signer to check");
}

/// A bare hash (32, 48 or 64 bytes) is timestamped as that hash: the token carries
/// the certificates and no nonce, and verifies against the data that was hashed.
#[test]
fn a_bare_hash_is_timestamped() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let f = Files::read(&h, 0);
    let data = f.write("data.bin", &[7u8; 1000]);
    for (dgst, len) in [("-sha256", 32), ("-sha384", 48), ("-sha512", 64)] {
        let digest = openssl(&["dgst", dgst, "-binary", path(&data)], &[]);
        assert_eq!(digest.len(), len);
        let der = timestamp(s, key, &digest).unwrap_or_else(|rv| panic!("{dgst}: {rv:#x}"));
        let token = f.write("token.tst", &der);
        let t = read_token(&der);
        assert_eq!((t.certificates, t.nonce), (3, None), "{dgst}");
        let r = f.verify(&["-data", path(&data)], &token, "chain.pem");
        assert!(r.ok, "{dgst}: {}", r.stderr);
        // openssl's -digest takes the same hash.
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let r = f.verify(&["-digest", &hex], &token, "chain.pem");
        assert!(r.ok, "{dgst} by -digest: {}", r.stderr);
    }
}

/// Serial numbers keep increasing across a restart of the module (the counter is
/// in the store).
#[test]
fn serials_increase_across_a_restart() {
    let (mut h, s) = Hsm::ready();
    let digest = [0x11u8; 32];
    let first = read_token(&timestamp(s, ts_key(&h, s), &digest).unwrap()).serial;
    let second = read_token(&timestamp(s, ts_key(&h, s), &digest).unwrap()).serial;
    assert_eq!(second, first + 1);
    h.restart();
    let s = h.open(0, false);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let third = read_token(&timestamp(s, ts_key(&h, s), &digest).unwrap()).serial;
    assert_eq!(third, second + 1, "the counter survived the restart");
}

/// A length query computes the token once: the call that fetches it returns those
/// very bytes, after a too-small buffer too; a later token is another.
#[test]
fn the_length_query_returns_the_bytes_of_the_call() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let digest = [0x22u8; 48];
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_TIMESTAMP), key), CKR_OK);
    let mut n: CK_ULONG = 0;
    let (d, dn) = (data_ptr(&digest), digest.len() as CK_ULONG);
    assert_rv!(call!(C_Sign, s, d, dn, ptr::null_mut(), &mut n), CKR_OK);
    let mut small = vec![0u8; n as usize - 1];
    let mut got = small.len() as CK_ULONG;
    assert_rv!(call!(C_Sign, s, d, dn, small.as_mut_ptr(), &mut got), CKR_BUFFER_TOO_SMALL);
    assert_eq!(got, n, "the exact length again");
    let mut out = vec![0u8; n as usize + 100];
    got = out.len() as CK_ULONG;
    assert_rv!(call!(C_Sign, s, d, dn, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n);
    out.truncate(got as usize);
    let first = read_token(&out);
    // The operation ended.
    assert_rv!(call!(C_Sign, s, d, dn, out.as_mut_ptr(), &mut got), CKR_OPERATION_NOT_INITIALIZED);
    // The next token has the next serial: the query, the short call and the fetch
    // made one token, not three.
    let next = read_token(&timestamp(s, key, &digest).unwrap());
    assert_eq!(next.serial, first.serial + 1);

    // In parts (C_SignUpdate / C_SignFinal) too.
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_TIMESTAMP), key), CKR_OK);
    assert_rv!(call!(C_SignUpdate, s, d, 10), CKR_OK);
    assert_rv!(call!(C_SignUpdate, s, data_ptr(&digest[10..]), dn - 10), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    let parts = read_token(&out);
    assert_eq!(parts.serial, next.serial + 1);
    assert_eq!(parts.imprint, next.imprint, "the same hash, in two parts");
}

// ---------------------------------------------------------------------------
// Refusals

/// Requests the TSA does not take: CKR_DATA_INVALID for a request it refuses,
/// CKR_DATA_LEN_RANGE for data that is no request and no hash. The operation ends.
#[test]
fn bad_requests_are_refused() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let f = Files::read(&h, 0);
    let data = f.write("data.txt", b"x");
    // Our own policy, asked for by name, is fine.
    let ours = f.query(&data, &["-sha256", "-tspolicy", POLICY]);
    assert!(timestamp(s, key, &ours).is_ok(), "our policy");
    let refused: Vec<(&str, Vec<u8>, CK_RV)> = vec![
        ("another policy", f.query(&data, &["-sha256", "-tspolicy", "1.2.3.4"]), CKR_DATA_INVALID),
        ("SHA-1", f.query(&data, &["-sha1"]), CKR_DATA_INVALID),
        ("SHA-224", f.query(&data, &["-sha224"]), CKR_DATA_INVALID),
        ("a truncated request", ours[..ours.len() - 1].to_vec(), CKR_DATA_INVALID),
        ("a SEQUENCE of nothing", vec![0x30, 0x00], CKR_DATA_INVALID),
        ("a SHA-1 hash", vec![0xab; 20], CKR_DATA_LEN_RANGE),
        ("33 bytes", vec![0xab; 33], CKR_DATA_LEN_RANGE),
        ("nothing", Vec::new(), CKR_DATA_LEN_RANGE),
        ("2 KiB", vec![0x30; 2048], CKR_DATA_LEN_RANGE),
    ];
    for (what, req, want) in refused {
        assert_rv!(rv(timestamp(s, key, &req)), want, "{what}");
        // The failed C_Sign ended the operation.
        let mut n: CK_ULONG = 0;
        assert_rv!(call!(C_Sign, s, ptr::null_mut(), 0, ptr::null_mut(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    }
    // A request with extensions (openssl cannot make one): version 1, a SHA-256
    // imprint and [0] { an extension }.
    let mut imprint = vec![0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    imprint.extend([0x04, 0x20]);
    imprint.extend([0x33; 32]);
    let ext = [0xa0, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x03, 0x01, 0x02, 0x03];
    let body: Vec<u8> = [&[0x02, 0x01, 0x01][..], &imprint, &ext].concat();
    let mut req = vec![0x30, body.len() as u8];
    req.extend(body);
    assert_rv!(rv(timestamp(s, key, &req)), CKR_DATA_INVALID, "extensions");
    // Without them, the same request is fine (so the test above tests the extensions).
    let body: Vec<u8> = [&[0x02, 0x01, 0x01][..], &imprint].concat();
    let mut req = vec![0x30, body.len() as u8];
    req.extend(body);
    assert!(timestamp(s, key, &req).is_ok(), "the request without extensions");
}

/// Only the user, only with the partition's timestamp key, only in a partition.
#[test]
fn only_the_user_with_the_timestamp_key() {
    let (h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let digest = [0x44u8; 32];
    let init = |s, k| call!(C_SignInit, s, &mut mech(CKM_FERRO_TIMESTAMP), k);

    // Other keys.
    let public = by_role(&h, s, CKO_PUBLIC_KEY, ROLE_TIMESTAMP);
    assert_rv!(init(s, public), CKR_KEY_TYPE_INCONSISTENT, "the timestamp public key");
    let cert = by_role(&h, s, CKO_CERTIFICATE, ROLE_TIMESTAMP);
    assert_rv!(init(s, cert), CKR_KEY_TYPE_INCONSISTENT, "the timestamp certificate");
    let attestation = by_role(&h, s, CKO_PRIVATE_KEY, ROLE_PARTITION);
    assert_rv!(init(s, attestation), CKR_KEY_FUNCTION_NOT_PERMITTED, "the attestation key");
    let ec_public = Tmpl::new().token(false).bytes(CKA_EC_PARAMS, P256);
    let ec_private = Tmpl::new().token(false).bool(CKA_SIGN, true);
    let (_, mine) = h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &ec_public, &ec_private).unwrap();
    assert_rv!(init(s, mine), CKR_KEY_FUNCTION_NOT_PERMITTED, "a user's P-256 signing key");
    let aes = h
        .generate_key(
            s,
            CKM_AES_KEY_GEN,
            &Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 32),
        )
        .unwrap();
    assert_rv!(init(s, aes), CKR_KEY_TYPE_INCONSISTENT, "an AES key");
    // A parameter.
    let mut param = [0u8; 4];
    let mut m =
        CK_MECHANISM { mechanism: CKM_FERRO_TIMESTAMP, pParameter: param.as_mut_ptr() as *mut _, ulParameterLen: 4 };
    assert_rv!(call!(C_SignInit, s, &mut m, key), CKR_MECHANISM_PARAM_INVALID);
    // The timestamp key signs nothing else.
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_ECDSA_SHA256), key), CKR_MECHANISM_INVALID);

    // Nobody logged in: the key is public, so it can be named, but not used.
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(init(s, key), CKR_USER_NOT_LOGGED_IN, "nobody logged in");
    // The partition SO neither.
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_rv!(init(s, key), CKR_USER_NOT_LOGGED_IN, "the SO");
    assert_rv!(call!(C_Logout, s), CKR_OK);
    // The user, who logs out in between: the token is not made.
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert_rv!(init(s, key), CKR_OK);
    assert_rv!(call!(C_Logout, s), CKR_OK);
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_Sign, s, data_ptr(&digest), 32, ptr::null_mut(), &mut n), CKR_USER_NOT_LOGGED_IN);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(timestamp(s, key, &digest).is_ok());

    // The admin token has no TSA: it neither lists the mechanism nor takes it.
    let so = h.device_so();
    let audit = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_AUDIT);
    assert_rv!(init(so, audit), CKR_MECHANISM_INVALID, "the admin token");
    let device = by_role(&h, so, CKO_PRIVATE_KEY, ROLE_DEVICE);
    assert_rv!(init(so, device), CKR_MECHANISM_INVALID, "the admin token");
}

/// The mechanism is listed in partitions with what it is: it signs, with a 256-bit
/// EC key.
#[test]
fn the_mechanism_is_listed_in_partitions() {
    let (_h, _s) = Hsm::ready();
    let list = |slot| {
        let mut n: CK_ULONG = 0;
        assert_rv!(call!(C_GetMechanismList, slot, ptr::null_mut(), &mut n), CKR_OK);
        let mut v = vec![0; n as usize];
        assert_rv!(call!(C_GetMechanismList, slot, v.as_mut_ptr(), &mut n), CKR_OK);
        v
    };
    assert!(list(0).contains(&CKM_FERRO_TIMESTAMP));
    assert!(!list(ADMIN_SLOT).contains(&CKM_FERRO_TIMESTAMP));
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_rv!(call!(C_GetMechanismInfo, 0, CKM_FERRO_TIMESTAMP, &mut info), CKR_OK);
    assert_eq!((info.ulMinKeySize, info.ulMaxKeySize, info.flags), (256, 256, CKF_SIGN));
    assert_rv!(call!(C_GetMechanismInfo, ADMIN_SLOT, CKM_FERRO_TIMESTAMP, &mut info), CKR_MECHANISM_INVALID);
}

// ---------------------------------------------------------------------------
// The audit log

/// Each timestamp is a `timestamp_made` entry of the user naming the timestamp key,
/// with the token's serial and the imprint's hash; a refused request is none. The
/// key's uses are counted.
#[test]
fn each_timestamp_is_in_the_audit_log() {
    let (mut h, s) = Hsm::ready();
    let key = ts_key(&h, s);
    let uid = String::from_utf8(h.get(s, key, CKA_UNIQUE_ID).unwrap()).unwrap();
    let a = read_token(&timestamp(s, key, &[0x55; 32]).unwrap()).serial;
    assert_rv!(rv(timestamp(s, key, &[0x55; 20])), CKR_DATA_LEN_RANGE);
    let b = read_token(&timestamp(s, key, &[0x55; 64]).unwrap()).serial;
    // The timestamp key signs, so each C_SignInit is a use of it (the refused one too).
    assert_eq!(h.get_ulong(s, key, CKA_FERRO_USAGE_COUNT), 3);
    assert_rv!(call!(C_CloseSession, s), CKR_OK);

    h.finalize();
    let provider = ferrohsm_pkcs11::crypto::select(None).unwrap();
    let store = Store::open(h.dir.path(), provider, KdfParams::DEFAULT).unwrap();
    let made: Vec<serde_json::Value> = store
        .audit_entries(1, u64::MAX, None)
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.unwrap().line).unwrap())
        .filter(|v| v["event"] == "timestamp_made")
        .collect();
    assert_eq!(made.len(), 2, "{made:?}");
    for (v, (serial, hash)) in made.iter().zip([(a, "SHA-256"), (b, "SHA-512")]) {
        assert_eq!(v["partition"], 0);
        assert_eq!(v["role"], "user");
        assert_eq!(v["object"], uid.as_str());
        assert_eq!(v["result"], "CKR_OK");
        assert_eq!(v["serial"], serial);
        assert_eq!(v["hash"], hash);
    }
    drop(store);
    h.initialize();
}
