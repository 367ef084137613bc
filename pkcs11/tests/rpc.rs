//! The RPC server (`ferrohsm_pkcs11::rpc`) against a live module in this process:
//! several connections, each its own application, driven by a small client that
//! speaks the protocol as p11-kit 0.24's client does, with the token's login state
//! checked directly. (The same through the real p11-kit client and stock tools:
//! tools/tests/serve.rs.)

// `CK_ULONG` is `u64` here but `u32` elsewhere: the casts are for portability.
#![allow(clippy::unnecessary_cast)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

use cryptoki_sys::*;
use ferrohsm_pkcs11::module;
use ferrohsm_pkcs11::rpc::serve_connection;

const SO_PIN: &[u8] = b"so-pin-1234";
const USER_PIN: &[u8] = b"user-pin-1234";

// Call ids of p11-kit's protocol.
const INITIALIZE: u32 = 1;
const FINALIZE: u32 = 2;
const INIT_TOKEN: u32 = 9;
const OPEN_SESSION: u32 = 10;
const GET_SESSION_INFO: u32 = 13;
const INIT_PIN: u32 = 14;
const LOGIN: u32 = 18;
const LOGOUT: u32 = 19;
const CREATE_OBJECT: u32 = 20;
const GET_ATTRIBUTE_VALUE: u32 = 24;
const FIND_OBJECTS_INIT: u32 = 26;
const FIND_OBJECTS: u32 = 27;
const FIND_OBJECTS_FINAL: u32 = 28;
const SIGN_INIT: u32 = 42;
const SIGN: u32 = 43;
const GENERATE_KEY_PAIR: u32 = 59;
const GENERATE_RANDOM: u32 = 64;

/// Argument encoders.
fn u(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
fn u32b(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
fn ay(b: &[u8]) -> Vec<u8> {
    [&[1u8][..], &u32b(b.len() as u32), b].concat()
}
fn z(s: &[u8]) -> Vec<u8> {
    [&u32b(s.len() as u32)[..], s].concat()
}

/// Template attributes as p11-kit encodes them.
enum A<'a> {
    Ulong(CK_ATTRIBUTE_TYPE, u64),
    Bool(CK_ATTRIBUTE_TYPE, bool),
    Bytes(CK_ATTRIBUTE_TYPE, &'a [u8]),
}
fn template(attrs: &[A]) -> Vec<u8> {
    let mut out = u32b(attrs.len() as u32);
    for a in attrs {
        match a {
            A::Ulong(t, v) => out.extend([u32b(*t as u32), vec![1], u32b(8), u(*v)].concat()),
            A::Bool(t, v) => out.extend([u32b(*t as u32), vec![1], u32b(1), vec![*v as u8]].concat()),
            A::Bytes(t, v) => out.extend([u32b(*t as u32), vec![1], u32b(v.len() as u32), z(v)].concat()),
        }
    }
    out
}

/// A client connection, served by `serve_connection` on its own thread.
struct Client {
    s: UnixStream,
    code: u32,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Client {
    fn connect() -> Client {
        let (mut s, server) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || serve_connection(server));
        s.write_all(&[0]).unwrap();
        let mut v = [9u8];
        s.read_exact(&mut v).unwrap();
        assert_eq!(v, [0]);
        let mut c = Client { s, code: 0x10, server: Some(server) };
        let args = [ay(b"PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"), vec![0], ay(b"\0")].concat();
        c.ok(INITIALIZE, "ayyay", &args);
        c
    }

    /// Sends a call; returns the response values, or the `CK_RV` of an error.
    fn call(&mut self, id: u32, sig: &str, args: &[u8]) -> Result<Vec<u8>, CK_RV> {
        let body = [&u32b(id)[..], &z(sig.as_bytes()), args].concat();
        self.code += 1;
        let frame = [&u32b(self.code)[..], &u32b(0), &u32b(body.len() as u32), &body].concat();
        self.s.write_all(&frame).unwrap();
        let mut h = [0u8; 12];
        self.s.read_exact(&mut h).unwrap();
        assert_eq!(h[..4], self.code.to_be_bytes());
        let mut reply = vec![0u8; u32::from_be_bytes(h[8..].try_into().unwrap()) as usize];
        self.s.read_exact(&mut reply).unwrap();
        let rid = u32::from_be_bytes(reply[..4].try_into().unwrap());
        let slen = u32::from_be_bytes(reply[4..8].try_into().unwrap()) as usize;
        let values = reply[8 + slen..].to_vec();
        if rid == 0 {
            return Err(u64::from_be_bytes(values[..8].try_into().unwrap()) as CK_RV);
        }
        assert_eq!(rid, id);
        Ok(values)
    }

    fn ok(&mut self, id: u32, sig: &str, args: &[u8]) -> Vec<u8> {
        self.call(id, sig, args).unwrap_or_else(|rv| panic!("call {id} failed: {rv:#x}"))
    }

    fn open(&mut self) -> u64 {
        let v = self.ok(OPEN_SESSION, "uu", &[u(0), u((CKF_SERIAL_SESSION | CKF_RW_SESSION) as u64)].concat());
        u64::from_be_bytes(v[..8].try_into().unwrap())
    }

    fn login(&mut self, s: u64, user: CK_USER_TYPE, pin: &[u8]) -> Result<Vec<u8>, CK_RV> {
        self.call(LOGIN, "uuay", &[u(s), u(user as u64), ay(pin)].concat())
    }

    fn find(&mut self, s: u64, attrs: &[A]) -> Vec<u64> {
        self.ok(FIND_OBJECTS_INIT, "uaA", &[u(s), template(attrs)].concat());
        let v = self.ok(FIND_OBJECTS, "ufu", &[u(s), u32b(100)].concat());
        assert_eq!(v[0], 1);
        let n = u32::from_be_bytes(v[1..5].try_into().unwrap()) as usize;
        self.ok(FIND_OBJECTS_FINAL, "u", &u(s));
        (0..n).map(|i| u64::from_be_bytes(v[5 + 8 * i..13 + 8 * i].try_into().unwrap())).collect()
    }

    /// Ends the connection as a crashed client does, and waits for the server side.
    fn drop_connection(mut self) {
        self.s.shutdown(std::net::Shutdown::Both).unwrap();
        self.server.take().unwrap().join().unwrap().unwrap();
    }

    fn finalize(mut self) {
        self.ok(FINALIZE, "", &[]);
        self.server.take().unwrap().join().unwrap().unwrap();
    }
}

/// (applications logged in, private objects not loaded) on slot 0.
fn token_state() -> (usize, usize) {
    let m = module::get().unwrap();
    let t = m.token(0).unwrap();
    let st = t.state.read();
    (st.logins.len(), st.locked_private)
}

#[test]
fn connections_are_applications_ended_with_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: this test binary has this one test; nothing else reads the environment.
    unsafe { std::env::set_var("FERROHSM_STORE", dir.path()) };
    module::initialize().unwrap();

    // Client A sets the token up and logs in as the user.
    let mut a = Client::connect();
    let label = [b"rpc".as_slice(), &[b' '; 29]].concat();
    a.ok(INIT_TOKEN, "uayz", &[u(0), ay(SO_PIN), z(&label)].concat());
    let sa = a.open();
    a.login(sa, CKU_SO, SO_PIN).unwrap();
    a.ok(INIT_PIN, "uay", &[u(sa), ay(USER_PIN)].concat());
    a.ok(LOGOUT, "u", &u(sa));
    a.login(sa, CKU_USER, USER_PIN).unwrap();
    let secret = [
        A::Ulong(CKA_CLASS, CKO_DATA as u64),
        A::Bool(CKA_TOKEN, true),
        A::Bool(CKA_PRIVATE, true),
        A::Bytes(CKA_LABEL, b"secret"),
        A::Bytes(CKA_VALUE, b"42"),
    ];
    a.ok(CREATE_OBJECT, "uaA", &[u(sa), template(&secret)].concat());
    assert_eq!(token_state(), (1, 0));

    // Client B: its own application, not logged in: it sees no private object, and
    // A's session handle is none of its own.
    let mut b = Client::connect();
    let sb = b.open();
    assert_ne!(sa, sb);
    assert!(b.find(sb, &[A::Bool(CKA_PRIVATE, true)]).is_empty());
    assert_eq!(b.call(GET_SESSION_INFO, "u", &u(sa)), Err(CKR_SESSION_HANDLE_INVALID));
    assert_eq!(b.call(LOGOUT, "u", &u(sa)), Err(CKR_SESSION_HANDLE_INVALID));
    let info = b.ok(GET_SESSION_INFO, "u", &u(sb));
    assert_eq!(u64::from_be_bytes(info[8..16].try_into().unwrap()), CKS_RW_PUBLIC_SESSION as u64);
    // B logs in too: two applications logged in.
    b.login(sb, CKU_USER, USER_PIN).unwrap();
    assert_eq!(token_state(), (2, 0));
    let found = b.find(sb, &[A::Bytes(CKA_LABEL, b"secret")]);
    assert_eq!(found.len(), 1);
    // C_GetAttributeValue: a length query, then the value.
    let q = b.ok(GET_ATTRIBUTE_VALUE, "uufA", &[u(sb), u(found[0]), u32b(1), u32b(CKA_VALUE as u32), u32b(0)].concat());
    assert_eq!(q, [u32b(1), u32b(CKA_VALUE as u32), vec![1], u32b(2), u32b(0xffff_ffff), u(0)].concat());
    let v = b.ok(GET_ATTRIBUTE_VALUE, "uufA", &[u(sb), u(found[0]), u32b(1), u32b(CKA_VALUE as u32), u32b(2)].concat());
    assert_eq!(v, [u32b(1), u32b(CKA_VALUE as u32), vec![1], u32b(2), z(b"42"), u(0)].concat());

    // A's connection dies: its login goes, B's stays, so the private objects stay
    // loaded for B.
    a.drop_connection();
    assert_eq!(token_state(), (1, 0));
    assert_eq!(b.find(sb, &[A::Bytes(CKA_LABEL, b"secret")]).len(), 1);

    // B signs with a key it makes, a length query first (`fy` of 0).
    let public = [A::Bool(CKA_TOKEN, false), A::Bytes(CKA_EC_PARAMS, &[6, 8, 42, 134, 72, 206, 61, 3, 1, 7])];
    let private = [A::Bool(CKA_TOKEN, false), A::Bool(CKA_SIGN, true)];
    let mech = [u32b(CKM_EC_KEY_PAIR_GEN as u32), u32b(0xffff_ffff)].concat();
    let keys = b.ok(GENERATE_KEY_PAIR, "uMaAaA", &[u(sb), mech, template(&public), template(&private)].concat());
    let priv_key = u64::from_be_bytes(keys[8..16].try_into().unwrap());
    let ecdsa = [u32b(CKM_ECDSA as u32), u32b(0xffff_ffff)].concat();
    b.ok(SIGN_INIT, "uMu", &[u(sb), ecdsa, u(priv_key)].concat());
    let len = b.ok(SIGN, "uayfy", &[u(sb), ay(&[7; 32]), u32b(0)].concat());
    assert_eq!(len, [vec![0], u32b(64)].concat(), "a length: 64 bytes");
    let sig = b.ok(SIGN, "uayfy", &[u(sb), ay(&[7; 32]), u32b(64)].concat());
    assert_eq!(sig.len(), 1 + 4 + 64);
    let random = b.ok(GENERATE_RANDOM, "ufy", &[u(sb), u32b(16)].concat());
    assert_eq!(random.len(), 1 + 4 + 16);

    // B finalizes: nobody is logged in, the private token object leaves memory.
    b.finalize();
    assert_eq!(token_state(), (0, 1));
    let m = module::get().unwrap();
    assert_eq!(m.token(0).unwrap().state.read().sessions, 0, "every session of both clients is closed");
    drop(m);

    // A client that disconnects in the middle of a login-protected operation.
    let mut c = Client::connect();
    let sc = c.open();
    c.login(sc, CKU_USER, USER_PIN).unwrap();
    c.ok(FIND_OBJECTS_INIT, "uaA", &[u(sc), template(&[])].concat());
    assert_eq!(token_state(), (1, 0));
    c.drop_connection();
    assert_eq!(token_state(), (0, 1));

    module::finalize().unwrap();
}
