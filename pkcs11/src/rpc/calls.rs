//! The calls: p11-kit's table of call ids and signatures, and for each call what
//! the FFI layer does with its C arguments, done with the decoded wire arguments.
//!
//! Each call reads its arguments in signature order, checks that nothing is left,
//! runs the safe function of [`crate::token`] that the `C_*` export of the same name
//! runs, and writes the outputs. An error becomes p11-kit's error response.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::MAX_MESSAGE;
use super::codec::{AttrValue, Malformed, Reader, Writer};
use crate::error::{Result, err};
use crate::module::{self, Module};
use crate::token::crypto::{self as ops, Dir};
use crate::token::objects::{self, AttrOut};
use crate::token::{Output, digest, general, keys, login, random, session, slot};

/// What the client's `C_Initialize` sends first, to check it speaks this protocol.
const HANDSHAKE: &[u8] = b"PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1";

/// One call of the protocol: its name and signatures, indexed by call id (the order
/// of p11-kit's `p11_rpc_calls`, which is the protocol).
struct Call {
    name: &'static str,
    request: &'static str,
    response: &'static str,
}

macro_rules! calls {
    ($($name:literal $req:literal $resp:literal),* $(,)?) => {
        &[$(Call { name: $name, request: $req, response: $resp }),*]
    };
}

/// p11-kit 0.24's calls, id 0 (the error response) to 87.
static CALLS: &[Call] = calls![
    "ERROR" "" "u",
    "C_Initialize" "ayyay" "",
    "C_Finalize" "" "",
    "C_GetInfo" "" "vsusv",
    "C_GetSlotList" "yfu" "au",
    "C_GetSlotInfo" "u" "ssuvv",
    "C_GetTokenInfo" "u" "ssssuuuuuuuuuuuvvs",
    "C_GetMechanismList" "ufu" "au",
    "C_GetMechanismInfo" "uu" "uuu",
    "C_InitToken" "uayz" "",
    "C_OpenSession" "uu" "u",
    "C_CloseSession" "u" "",
    "C_CloseAllSessions" "u" "",
    "C_GetSessionInfo" "u" "uuuu",
    "C_InitPIN" "uay" "",
    "C_SetPIN" "uayay" "",
    "C_GetOperationState" "ufy" "ay",
    "C_SetOperationState" "uayuu" "",
    "C_Login" "uuay" "",
    "C_Logout" "u" "",
    "C_CreateObject" "uaA" "u",
    "C_CopyObject" "uuaA" "u",
    "C_DestroyObject" "uu" "",
    "C_GetObjectSize" "uu" "u",
    "C_GetAttributeValue" "uufA" "aAu",
    "C_SetAttributeValue" "uuaA" "",
    "C_FindObjectsInit" "uaA" "",
    "C_FindObjects" "ufu" "au",
    "C_FindObjectsFinal" "u" "",
    "C_EncryptInit" "uMu" "",
    "C_Encrypt" "uayfy" "ay",
    "C_EncryptUpdate" "uayfy" "ay",
    "C_EncryptFinal" "ufy" "ay",
    "C_DecryptInit" "uMu" "",
    "C_Decrypt" "uayfy" "ay",
    "C_DecryptUpdate" "uayfy" "ay",
    "C_DecryptFinal" "ufy" "ay",
    "C_DigestInit" "uM" "",
    "C_Digest" "uayfy" "ay",
    "C_DigestUpdate" "uay" "",
    "C_DigestKey" "uu" "",
    "C_DigestFinal" "ufy" "ay",
    "C_SignInit" "uMu" "",
    "C_Sign" "uayfy" "ay",
    "C_SignUpdate" "uay" "",
    "C_SignFinal" "ufy" "ay",
    "C_SignRecoverInit" "uMu" "",
    "C_SignRecover" "uayfy" "ay",
    "C_VerifyInit" "uMu" "",
    "C_Verify" "uayay" "",
    "C_VerifyUpdate" "uay" "",
    "C_VerifyFinal" "uay" "",
    "C_VerifyRecoverInit" "uMu" "",
    "C_VerifyRecover" "uayfy" "ay",
    "C_DigestEncryptUpdate" "uayfy" "ay",
    "C_DecryptDigestUpdate" "uayfy" "ay",
    "C_SignEncryptUpdate" "uayfy" "ay",
    "C_DecryptVerifyUpdate" "uayfy" "ay",
    "C_GenerateKey" "uMaA" "u",
    "C_GenerateKeyPair" "uMaAaA" "uu",
    "C_WrapKey" "uMuufy" "ay",
    "C_UnwrapKey" "uMuayaA" "u",
    "C_DeriveKey" "uMuaA" "u",
    "C_SeedRandom" "uay" "",
    "C_GenerateRandom" "ufy" "ay",
    "C_WaitForSlotEvent" "u" "u",
    "C_LoginUser" "uuayay" "",
    "C_SessionCancel" "uu" "",
    "C_MessageEncryptInit" "uMu" "",
    "C_EncryptMessage" "uayayayfy" "ay",
    "C_EncryptMessageBegin" "uayay" "",
    "C_EncryptMessageNext" "uayayfyu" "ay",
    "C_MessageEncryptFinal" "u" "",
    "C_MessageDecryptInit" "uMu" "",
    "C_DecryptMessage" "uayayayfy" "ay",
    "C_DecryptMessageBegin" "uayay" "",
    "C_DecryptMessageNext" "uayayfyu" "ay",
    "C_MessageDecryptFinal" "u" "",
    "C_MessageSignInit" "uMu" "",
    "C_SignMessage" "uayayfy" "ay",
    "C_SignMessageBegin" "uay" "",
    "C_SignMessageNext" "uayayyfy" "ay",
    "C_MessageSignFinal" "u" "",
    "C_MessageVerifyInit" "uMu" "",
    "C_VerifyMessage" "uayayay" "",
    "C_VerifyMessageBegin" "uay" "",
    "C_VerifyMessageNext" "uayayay" "",
    "C_MessageVerifyFinal" "u" "",
];

/// The id of a call by name.
#[cfg(test)]
pub(super) fn call_id(name: &str) -> Option<u32> {
    CALLS.iter().position(|c| c.name == name).map(|i| i as u32)
}

/// The request signature of call `id`.
#[cfg(test)]
pub(super) fn request_signature(id: u32) -> &'static str {
    CALLS[id as usize].request
}

/// A response, and whether the client finalized (the connection then ends).
pub(super) struct Reply {
    pub body: Zeroizing<Vec<u8>>,
    pub finalized: bool,
}

/// Answers one request body.
pub(super) fn handle(body: &[u8]) -> Reply {
    let mut r = Reader::new(body);
    let mut finalized = false;
    let (name, result) = match header(&mut r) {
        Err(e) => ("?", Err(e)),
        Ok(id) => {
            let call = &CALLS[id as usize];
            let mut w = Writer::default();
            w.u32(id);
            w.array(Some(call.response.as_bytes()));
            let res = dispatch(id, &mut r, &mut w).map(|f| {
                finalized = f == Flow::Finalized;
                w
            });
            (call.name, res)
        }
    };
    let body = match result {
        Ok(w) => {
            log::debug!("rpc: {name}: CKR_OK");
            w.into_inner()
        }
        Err(e) => {
            if e.rv() != CKR_BUFFER_TOO_SMALL {
                log::debug!("rpc: {name}: {e}");
            }
            error_response(e.rv())
        }
    };
    Reply { body, finalized }
}

/// p11-kit's error response: call id 0, signature `"u"`, the `CK_RV`.
pub(super) fn error_response(rv: CK_RV) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::default();
    w.u32(0);
    w.array(Some(b"u"));
    w.u64(rv as u64);
    w.into_inner()
}

/// Reads the call id and checks the signature the client sent against ours.
fn header(r: &mut Reader) -> Result<u32> {
    let id = r.u32()?;
    let call = match CALLS.get(id as usize) {
        Some(c) if id != 0 => c,
        // Calls of later protocol versions (C_InitToken2, PKCS#11 3.2...), or garbage.
        _ => return Err(err(CKR_FUNCTION_NOT_SUPPORTED, format!("unknown call {id}"))),
    };
    let sig = r.array()?.ok_or(Malformed("null signature"))?;
    if sig != call.request.as_bytes() {
        return Err(Malformed("signature does not match the call").into());
    }
    Ok(id)
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Finalized,
}

/// A 32-byte blank-padded label from the `z` string p11-kit sends.
fn label32(s: &[u8]) -> [u8; 32] {
    general::padded(s)
}

/// A PIN argument: p11-kit encodes a null pointer as an absent array.
fn pin(p: Option<&[u8]>) -> Result<&[u8]> {
    p.ok_or_else(|| err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give a PIN"))
}

/// An `ay` argument that is data: a null pointer is empty data (the client sends a
/// null pointer with a length as "null", which the C layer would refuse).
fn data(p: Option<&[u8]>) -> &[u8] {
    p.unwrap_or(&[])
}

/// Writes an [`Output`] as `ay`.
fn output(w: &mut Writer, out: Output) {
    match out {
        Output::Len(n) => w.bytes_out(None, n),
        Output::Data(d) => w.bytes_out(Some(&d), d.len()),
        Output::Public(d) => w.bytes_out(Some(&d), d.len()),
    }
}

/// Writes a list for `fu` capacity `cap` (`None`: a query), as p11-kit's server: the
/// count alone when the caller asked for it or its buffer is short.
fn list(w: &mut Writer, cap: Option<usize>, items: &[CK_ULONG]) {
    match cap {
        Some(c) if c >= items.len() => w.ulongs_out(Some(items), items.len()),
        _ => w.ulongs_out(None, items.len()),
    }
}

fn module() -> Result<std::sync::Arc<Module>> {
    module::get()
}

/// Runs call `id`, its arguments in `r`, its outputs into `w`.
fn dispatch(id: u32, r: &mut Reader, w: &mut Writer) -> Result<Flow> {
    let name = CALLS[id as usize].name;
    // Reads the arguments, then checks that the request had no more.
    macro_rules! args {
        ($($e:expr),* $(,)?) => {{
            let a = ($($e,)*);
            r.finish()?;
            a
        }};
    }
    match name {
        "C_Initialize" => {
            let (handshake, _reserved_present, _reserved) = args!(r.bytes_in()?, r.byte()?, r.bytes_in()?);
            if handshake != Some(HANDSHAKE) {
                return Err(err(CKR_GENERAL_ERROR, "the client does not speak this protocol"));
            }
            // The server initialised the module once; each client is an application
            // of it, and its C_Initialize only checks that it is ready.
            module()?;
        }
        "C_Finalize" => {
            args!();
            session::end_app(&*module()?);
            return Ok(Flow::Finalized);
        }
        "C_GetInfo" => {
            args!();
            module()?;
            let i = general::get_info();
            w.version(i.cryptokiVersion);
            w.space_string(&i.manufacturerID);
            w.u64(i.flags as u64);
            w.space_string(&i.libraryDescription);
            w.version(i.libraryVersion);
        }
        "C_GetSlotList" => {
            let (_present, cap) = args!(r.byte()?, r.capacity()?);
            list(w, cap, &slot::get_slot_list(&*module()?));
        }
        "C_GetSlotInfo" => {
            let (s,) = args!(r.ulong()?);
            let i = slot::get_slot_info(&*module()?, s)?;
            w.space_string(&i.slotDescription);
            w.space_string(&i.manufacturerID);
            w.u64(i.flags as u64);
            w.version(i.hardwareVersion);
            w.version(i.firmwareVersion);
        }
        "C_GetTokenInfo" => {
            let (s,) = args!(r.ulong()?);
            let i = slot::get_token_info(&*module()?, s)?;
            w.space_string(&i.label);
            w.space_string(&i.manufacturerID);
            w.space_string(&i.model);
            w.space_string(&i.serialNumber);
            for v in [
                i.flags,
                i.ulMaxSessionCount,
                i.ulSessionCount,
                i.ulMaxRwSessionCount,
                i.ulRwSessionCount,
                i.ulMaxPinLen,
                i.ulMinPinLen,
                i.ulTotalPublicMemory,
                i.ulFreePublicMemory,
                i.ulTotalPrivateMemory,
                i.ulFreePrivateMemory,
            ] {
                w.u64(v as u64);
            }
            w.version(i.hardwareVersion);
            w.version(i.firmwareVersion);
            w.space_string(&i.utcTime);
        }
        "C_GetMechanismList" => {
            let (s, cap) = args!(r.ulong()?, r.capacity()?);
            list(w, cap, &slot::get_mechanism_list(&*module()?, s)?);
        }
        "C_GetMechanismInfo" => {
            let (s, ty) = args!(r.ulong()?, r.ulong()?);
            let i = slot::get_mechanism_info(&*module()?, s, ty)?;
            w.u64(i.ulMinKeySize as u64);
            w.u64(i.ulMaxKeySize as u64);
            w.u64(i.flags as u64);
        }
        "C_InitToken" => {
            let (s, p, label) = args!(r.ulong()?, r.bytes_in()?, r.string()?);
            let p = pin(p)?;
            if p.is_empty() {
                return Err(err(CKR_ARGUMENTS_BAD, "this token has no protected authentication path: give a PIN"));
            }
            slot::init_token(&*module()?, s, p, &label32(label))?;
        }
        "C_OpenSession" => {
            let (s, flags) = args!(r.ulong()?, r.ulong()?);
            w.u64(session::open_session(&*module()?, s, flags)? as u64);
        }
        "C_CloseSession" => {
            let (s,) = args!(r.ulong()?);
            session::close_session(&*module()?, s)?;
        }
        "C_CloseAllSessions" => {
            let (s,) = args!(r.ulong()?);
            session::close_all_sessions(&*module()?, s)?;
        }
        "C_GetSessionInfo" => {
            let (s,) = args!(r.ulong()?);
            let i = session::get_session_info(&*module()?, s)?;
            for v in [i.slotID, i.state, i.flags, i.ulDeviceError] {
                w.u64(v as u64);
            }
        }
        "C_InitPIN" => {
            let (s, p) = args!(r.ulong()?, r.bytes_in()?);
            login::init_pin(&*module()?, s, pin(p)?)?;
        }
        "C_SetPIN" => {
            let (s, old, new) = args!(r.ulong()?, r.bytes_in()?, r.bytes_in()?);
            login::set_pin(&*module()?, s, pin(old)?, pin(new)?)?;
        }
        "C_GetOperationState" | "C_SetOperationState" => {
            let s = r.ulong()?;
            module()?.session(s)?;
            return Err(err(CKR_FUNCTION_NOT_SUPPORTED, "operation state is not exported"));
        }
        "C_Login" => {
            let (s, user, p) = args!(r.ulong()?, r.ulong()?, r.bytes_in()?);
            login::login(&*module()?, s, user, pin(p)?)?;
        }
        "C_LoginUser" => {
            let (s, user, p, name) = args!(r.ulong()?, r.ulong()?, r.bytes_in()?, r.bytes_in()?);
            login::login_user(&*module()?, s, user, pin(p)?, data(name))?;
        }
        "C_Logout" => {
            let (s,) = args!(r.ulong()?);
            login::logout(&*module()?, s)?;
        }
        "C_CreateObject" => {
            let (s, t) = args!(r.ulong()?, r.template()?);
            w.u64(objects::create_object(&*module()?, s, &t)? as u64);
        }
        "C_CopyObject" => {
            let (s, o, t) = args!(r.ulong()?, r.ulong()?, r.template()?);
            w.u64(objects::copy_object(&*module()?, s, o, &t)? as u64);
        }
        "C_DestroyObject" => {
            let (s, o) = args!(r.ulong()?, r.ulong()?);
            objects::destroy_object(&*module()?, s, o)?;
        }
        "C_GetObjectSize" => {
            let (s, o) = args!(r.ulong()?, r.ulong()?);
            w.u64(objects::get_object_size(&*module()?, s, o)? as u64);
        }
        "C_GetAttributeValue" => {
            let (s, o, query) = args!(r.ulong()?, r.ulong()?, r.attribute_query()?);
            get_attribute_value(w, &*module()?, s, o, &query)?;
        }
        "C_SetAttributeValue" => {
            let (s, o, t) = args!(r.ulong()?, r.ulong()?, r.template()?);
            objects::set_attribute_value(&*module()?, s, o, &t)?;
        }
        "C_FindObjectsInit" => {
            let (s, t) = args!(r.ulong()?, r.template()?);
            objects::find_objects_init(&*module()?, s, &t)?;
        }
        "C_FindObjects" => {
            let (s, cap) = args!(r.ulong()?, r.capacity()?);
            let found = objects::find_objects(&*module()?, s, cap.unwrap_or(0))?;
            w.ulongs_out(Some(&found), found.len());
        }
        "C_FindObjectsFinal" => {
            let (s,) = args!(r.ulong()?);
            objects::find_objects_final(&*module()?, s)?;
        }
        "C_EncryptInit" | "C_DecryptInit" | "C_SignInit" | "C_VerifyInit" => {
            let (s, mech, key) = args!(r.ulong()?, r.mechanism()?, r.ulong()?);
            let m = module()?;
            match name {
                "C_EncryptInit" => ops::encrypt_init(&m, s, &mech, key)?,
                "C_DecryptInit" => ops::decrypt_init(&m, s, &mech, key)?,
                "C_SignInit" => ops::sign_init(&m, s, &mech, key)?,
                _ => ops::verify_init(&m, s, &mech, key)?,
            }
        }
        "C_Encrypt" | "C_EncryptUpdate" | "C_Decrypt" | "C_DecryptUpdate" | "C_Sign" | "C_Digest" => {
            let (s, input, cap) = args!(r.ulong()?, r.bytes_in()?, r.capacity()?);
            let (m, input) = (module()?, data(input));
            let out = match name {
                "C_Encrypt" => ops::crypt(&m, s, Dir::Encrypt, input, cap)?,
                "C_EncryptUpdate" => ops::crypt_update(&m, s, Dir::Encrypt, input, cap)?,
                "C_Decrypt" => ops::crypt(&m, s, Dir::Decrypt, input, cap)?,
                "C_DecryptUpdate" => ops::crypt_update(&m, s, Dir::Decrypt, input, cap)?,
                "C_Sign" => ops::sign(&m, s, input, cap)?,
                _ => digest::digest(&m, s, input, cap)?,
            };
            output(w, out);
        }
        "C_EncryptFinal" | "C_DecryptFinal" | "C_SignFinal" | "C_DigestFinal" => {
            let (s, cap) = args!(r.ulong()?, r.capacity()?);
            let m = module()?;
            let out = match name {
                "C_EncryptFinal" => ops::crypt_final(&m, s, Dir::Encrypt, cap)?,
                "C_DecryptFinal" => ops::crypt_final(&m, s, Dir::Decrypt, cap)?,
                "C_SignFinal" => ops::sign_final(&m, s, cap)?,
                _ => digest::digest_final(&m, s, cap)?,
            };
            output(w, out);
        }
        "C_SignUpdate" | "C_VerifyUpdate" | "C_DigestUpdate" | "C_VerifyFinal" | "C_SeedRandom" => {
            let (s, input) = args!(r.ulong()?, r.bytes_in()?);
            let (m, input) = (module()?, data(input));
            match name {
                "C_SignUpdate" => ops::sign_update(&m, s, input)?,
                "C_VerifyUpdate" => ops::verify_update(&m, s, input)?,
                "C_DigestUpdate" => digest::digest_update(&m, s, input)?,
                "C_VerifyFinal" => ops::verify_final(&m, s, input)?,
                _ => random::seed_random(&m, s, input)?,
            }
        }
        "C_Verify" => {
            let (s, input, sig) = args!(r.ulong()?, r.bytes_in()?, r.bytes_in()?);
            ops::verify(&*module()?, s, data(input), data(sig))?;
        }
        "C_DigestInit" => {
            let (s, mech) = args!(r.ulong()?, r.mechanism()?);
            digest::digest_init(&*module()?, s, &mech)?;
        }
        "C_DigestKey" => {
            let (s, key) = args!(r.ulong()?, r.ulong()?);
            digest::digest_key(&*module()?, s, key)?;
        }
        "C_GenerateKey" => {
            let (s, mech, t) = args!(r.ulong()?, r.mechanism()?, r.template()?);
            w.u64(keys::generate_key(&*module()?, s, &mech, &t)? as u64);
        }
        "C_GenerateKeyPair" => {
            let (s, mech, public, private) = args!(r.ulong()?, r.mechanism()?, r.template()?, r.template()?);
            let (h_pub, h_priv) = keys::generate_key_pair(&*module()?, s, &mech, &public, &private)?;
            w.u64(h_pub as u64);
            w.u64(h_priv as u64);
        }
        "C_WrapKey" => {
            let (s, mech, wrapping, key, cap) =
                args!(r.ulong()?, r.mechanism()?, r.ulong()?, r.ulong()?, r.capacity()?);
            output(w, keys::wrap_key(&*module()?, s, &mech, wrapping, key, cap)?);
        }
        "C_UnwrapKey" => {
            let (s, mech, unwrapping, wrapped, t) =
                args!(r.ulong()?, r.mechanism()?, r.ulong()?, r.bytes_in()?, r.template()?);
            w.u64(keys::unwrap_key(&*module()?, s, &mech, unwrapping, data(wrapped), &t)? as u64);
        }
        "C_DeriveKey" => {
            let (s, mech, base, t) = args!(r.ulong()?, r.mechanism()?, r.ulong()?, r.template()?);
            w.u64(keys::derive_key(&*module()?, s, &mech, base, &t)? as u64);
        }
        "C_GenerateRandom" => {
            let (s, cap) = args!(r.ulong()?, r.capacity()?);
            let n = cap.unwrap_or(0);
            if n > MAX_MESSAGE {
                return Err(err(CKR_ARGUMENTS_BAD, format!("at most {MAX_MESSAGE} random bytes per call")));
            }
            let mut out = vec![0u8; n];
            random::generate_random(&*module()?, s, &mut out)?;
            w.bytes_out(Some(&out), n);
        }
        "C_SessionCancel" => {
            let (s, flags) = args!(r.ulong()?, r.ulong()?);
            session::session_cancel(&*module()?, s, flags)?;
        }
        "C_WaitForSlotEvent" => {
            module()?;
            return Err(err(CKR_FUNCTION_NOT_SUPPORTED, "no slot events"));
        }
        // SignRecover, VerifyRecover, the dual-function updates and message-based
        // encryption: the C layer does not support them either. Message-based signing
        // and verification it does, but not here: p11-kit sends their parameter as
        // plain bytes, which cannot carry a CK_SIGN_ADDITIONAL_CONTEXT's pointer, and
        // wiring the parameter-less case is left for later (docs/mechanisms-pqc.md).
        _ => {
            module()?;
            return Err(err(CKR_FUNCTION_NOT_SUPPORTED, format!("{name} is not supported")));
        }
    }
    Ok(Flow::Continue)
}

/// `C_GetAttributeValue` as the C layer fills a caller's template (§5.7): every
/// entry answered; the first error among them is the call's; entries that cannot be
/// returned get `CK_UNAVAILABLE_INFORMATION`.
fn get_attribute_value(
    w: &mut Writer,
    m: &Module,
    s: CK_SESSION_HANDLE,
    o: CK_OBJECT_HANDLE,
    query: &[(CK_ATTRIBUTE_TYPE, Option<usize>)],
) -> Result<()> {
    let types: Vec<CK_ATTRIBUTE_TYPE> = query.iter().map(|(t, _)| *t).collect();
    let answers = objects::get_attribute_value(m, s, o, &types)?;
    let mut rv = CKR_OK;
    w.u32(query.len() as u32);
    for ((ty, cap), answer) in query.iter().zip(answers) {
        let r = match answer {
            AttrOut::Invalid => Err(CKR_ATTRIBUTE_TYPE_INVALID),
            AttrOut::Sensitive => Err(CKR_ATTRIBUTE_SENSITIVE),
            AttrOut::Value(v) => {
                let c = AttrValue::from_canonical(*ty, &v);
                let len = c.c_len();
                // A value p11-kit cannot carry is unavailable, length queries included.
                if !Writer::default().attribute(*ty, Some((len, Some(&c)))) {
                    log::warn!("rpc: {} does not fit p11-kit's encoding of it", crate::error::Attr(*ty));
                    Err(CKR_ATTRIBUTE_TYPE_INVALID)
                } else {
                    match cap {
                        Some(cap) if *cap < len => Err(CKR_BUFFER_TOO_SMALL),
                        None => Ok(w.attribute(*ty, Some((len, None)))),
                        Some(_) => Ok(w.attribute(*ty, Some((len, Some(&c))))),
                    }
                    .map(|_| ())
                }
            }
        };
        if let Err(e) = r {
            w.attribute(*ty, None);
            if rv == CKR_OK {
                rv = e;
            }
        }
    }
    w.u64(rv as u64);
    Ok(())
}
