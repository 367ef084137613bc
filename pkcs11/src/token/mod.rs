//! Slots, tokens, sessions and login state, and the safe functions behind the C
//! entry points (one submodule per chapter of the spec).

pub mod attest;
pub mod audit;
pub mod audit_attest;
pub mod crypto;
pub mod digest;
pub mod general;
pub mod kdf;
pub mod kem;
pub mod keys;
pub mod login;
pub mod message;
pub mod objects;
pub mod partition;
pub mod random;
pub mod session;
pub mod slot;
pub mod timestamp;

use std::collections::HashMap;
use std::sync::Arc;

use cryptoki_sys::*;
use ferrohsm_store::{MasterKey, ObjectRecord, PartitionKind, PartitionRecord, StoredValue};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};

use crate::error::{Result, err};
use crate::module::{AppId, Module, app};
use crate::object::table::ObjectTable;
use crate::object::{Attrs, Lifetime, Object, as_bool, as_ulong};
use crate::vendor::*;

/// Who is logged in to a token, and the partition master key their PIN unlocked.
pub struct Login {
    /// `CKU_SO` or `CKU_USER`.
    pub user: CK_USER_TYPE,
    /// The partition master key.
    pub master: Arc<MasterKey>,
}

/// A partition's policy, read from its record with the defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `CKA_FERRO_POLICY_ALLOW_EXPORT`.
    pub allow_export: bool,
    /// `CKA_FERRO_POLICY_KEY_INVALIDATION`.
    pub key_invalidation: bool,
    /// `CKA_FERRO_POLICY_READ_ONLY`.
    pub read_only: bool,
    /// `CKA_FERRO_POLICY_MAX_PIN_FAILURES`.
    pub max_pin_failures: u32,
    /// `CKA_FERRO_POLICY_MIN_PIN_LEN`.
    pub min_pin_len: usize,
}

/// The policy attributes, with their defaults, as kept in the partition record.
pub const POLICY_ATTRS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_FERRO_POLICY_ALLOW_EXPORT,
    CKA_FERRO_POLICY_KEY_INVALIDATION,
    CKA_FERRO_POLICY_READ_ONLY,
    CKA_FERRO_POLICY_MAX_PIN_FAILURES,
    CKA_FERRO_POLICY_MIN_PIN_LEN,
];

/// The longest PIN accepted.
pub const MAX_PIN_LEN: usize = 255;

impl Policy {
    /// The policy of a partition record.
    pub fn of(rec: &PartitionRecord) -> Self {
        let b = |ty, d| rec.policy_value(ty).and_then(as_bool).unwrap_or(d);
        let u = |ty, d| rec.policy_value(ty).and_then(as_ulong).unwrap_or(d);
        Self {
            allow_export: b(CKA_FERRO_POLICY_ALLOW_EXPORT, true),
            key_invalidation: b(CKA_FERRO_POLICY_KEY_INVALIDATION, false),
            read_only: b(CKA_FERRO_POLICY_READ_ONLY, false),
            max_pin_failures: u(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 10).min(u32::MAX as u64) as u32,
            min_pin_len: u(CKA_FERRO_POLICY_MIN_PIN_LEN, 4) as usize,
        }
    }

    /// Checks a new PIN's length.
    pub fn check_pin(&self, pin: &[u8]) -> Result<()> {
        if pin.len() < self.min_pin_len || pin.len() > MAX_PIN_LEN {
            return Err(err(CKR_PIN_LEN_RANGE, format!("PIN must be {} to {MAX_PIN_LEN} bytes", self.min_pin_len)));
        }
        Ok(())
    }
}

/// One slot and its token (a partition).
pub struct Token {
    /// The slot id (the partition id; stable).
    pub slot_id: CK_SLOT_ID,
    /// The partition id in the store.
    pub partition: u32,
    /// Whether this is the admin token.
    pub admin: bool,
    /// Everything that changes.
    pub state: RwLock<TokenState>,
}

/// A token's mutable state.
pub struct TokenState {
    /// The partition record (label, PINs, policy), as last written.
    pub record: PartitionRecord,
    /// Who is logged in, per application (PKCS#11 keeps login state per
    /// application; every session of an application shares it).
    pub logins: Vec<(AppId, Login)>,
    /// The application of each open session (session objects are visible to their
    /// own application only).
    pub session_apps: HashMap<CK_SESSION_HANDLE, AppId>,
    /// Objects visible in memory.
    pub objects: ObjectTable,
    /// Handles given to token objects: stable for public objects; private objects
    /// get new ones at each login (§5.6: after `C_Logout`, handles to private
    /// objects stay invalid even after a new login).
    pub handles: HashMap<u64, CK_OBJECT_HANDLE>,
    /// Private token objects not loaded (no user login).
    pub locked_private: usize,
    /// Open sessions, and how many of them are read/write.
    pub sessions: usize,
    /// Open read/write sessions.
    pub rw_sessions: usize,
}

impl TokenState {
    /// The partition policy.
    pub fn policy(&self) -> Policy {
        Policy::of(&self.record)
    }

    /// The calling application's login.
    pub fn login(&self) -> Option<&Login> {
        let app = app();
        self.logins.iter().find(|(a, _)| *a == app).map(|(_, l)| l)
    }

    /// Whether the calling application is logged in as the normal user.
    pub fn user_logged_in(&self) -> bool {
        self.login().is_some_and(|l| l.user == CKU_USER)
    }

    /// Whether the calling application is logged in as the SO.
    pub fn so_logged_in(&self) -> bool {
        self.login().is_some_and(|l| l.user == CKU_SO)
    }

    /// The master key, when the calling application is logged in.
    pub fn master(&self) -> Option<&Arc<MasterKey>> {
        self.login().map(|l| &l.master)
    }

    /// Whether the calling application may see `obj`: private objects only with the
    /// user logged in (PKCS#11 §4.4), session objects only its own sessions';
    /// invalidated keys only the SO (key invalidation policy).
    pub fn visible(&self, obj: &Object) -> bool {
        let own = match obj.lifetime {
            Lifetime::Session(h) => self.session_apps.get(&h) == Some(&app()),
            _ => true,
        };
        own && if obj.invalidated() { self.so_logged_in() } else { !obj.private() || self.user_logged_in() }
    }

    /// The handle of token object `oid`, allocating one on first sight.
    pub fn handle_for(&mut self, module: &Module, oid: u64) -> CK_OBJECT_HANDLE {
        *self.handles.entry(oid).or_insert_with(|| module.new_handle())
    }
}

impl Token {
    /// Loads a partition: its record and its public objects.
    pub fn load(module: &Module, record: PartitionRecord) -> Result<Self> {
        let admin = record.kind == PartitionKind::Admin;
        let partition = record.id;
        let mut state = TokenState {
            record,
            logins: Vec::new(),
            session_apps: HashMap::new(),
            objects: ObjectTable::default(),
            handles: HashMap::new(),
            locked_private: 0,
            sessions: 0,
            rw_sessions: 0,
        };
        load_objects(module, partition, &mut state, None)?;
        Ok(Self { slot_id: partition as CK_SLOT_ID, partition, admin, state: RwLock::new(state) })
    }

    /// Locks the state for a change.
    pub fn write(&self) -> RwLockWriteGuard<'_, TokenState> {
        self.state.write()
    }
}

/// Whether a stored record is a private object (its class is sealed).
fn record_is_private(rec: &ObjectRecord) -> bool {
    !rec.attrs.iter().any(|(t, v)| *t == CKA_CLASS as u64 && matches!(v, StoredValue::Plain(_)))
}

/// Loads a partition's token objects from the store into `state`: the public
/// objects when `master` is `None` (at start), the private ones when it is the
/// master key a user login unlocked.
pub fn load_objects(module: &Module, partition: u32, state: &mut TokenState, master: Option<&MasterKey>) -> Result<()> {
    let mut locked_private = 0;
    let totals = module.store.usage_totals(partition).unwrap_or_else(|e| {
        log::warn!("partition {partition}: key usage counts unreadable, counting from 0: {e}");
        Default::default()
    });
    let now = crate::time::now();
    for item in module.store.objects(partition) {
        let (oid, rec) = match item {
            Ok(x) => x,
            Err(e) => {
                // One bad record must not take the token down; it stays in the store.
                log::warn!("partition {partition}: skipping an unreadable object record: {e}");
                continue;
            }
        };
        let private = record_is_private(&rec);
        if private != master.is_some() {
            locked_private += usize::from(private);
            continue;
        }
        let mut attrs = Attrs::default();
        let mut damaged = false;
        for (ty, v) in &rec.attrs {
            match module.store.unseal(partition, oid, *ty, v, master) {
                Ok(plain) => attrs.set(*ty as CK_ATTRIBUTE_TYPE, plain.to_vec()),
                Err(e) => {
                    log::warn!("partition {partition}: object {oid:#x}: {e}");
                    damaged = true;
                    break;
                }
            }
        }
        if damaged {
            continue;
        }
        let handle = state.handle_for(module, oid);
        let usage = Arc::new(crate::object::Usage::new(totals.get(&oid).copied().unwrap_or(0), now));
        state.objects.insert(Arc::new(Object::with_usage(handle, Lifetime::Token(oid), attrs, usage)));
    }
    state.locked_private = locked_private;
    Ok(())
}

/// What a session is doing (one operation of each kind at a time).
#[derive(Default)]
pub struct Ops {
    /// `C_FindObjects*`.
    pub find: Option<objects::Find>,
    /// `C_Digest*`.
    pub digest: Option<digest::DigestOp>,
    /// `C_Encrypt*`.
    pub encrypt: Option<crypto::Active<dyn crate::mechanism::CryptOp>>,
    /// `C_Decrypt*`.
    pub decrypt: Option<crypto::Active<dyn crate::mechanism::CryptOp>>,
    /// `C_Sign*`.
    pub sign: Option<crypto::Active<dyn crate::mechanism::SignOp>>,
    /// `C_Verify*`.
    pub verify: Option<crypto::Active<dyn crate::mechanism::VerifyOp>>,
    /// `C_VerifySignature*` (PKCS#11 3.2). The session's one verification: it and
    /// [`Ops::verify`] are never active together (see [`crypto::verify_signature_init`]).
    pub verify_signature: Option<crypto::Active<crypto::SignatureGiven>>,
    /// `C_MessageSignInit` to `C_MessageSignFinal` (PKCS#11 3.0).
    pub message_sign: Option<message::Process<dyn crate::mechanism::SignOp>>,
    /// `C_MessageVerifyInit` to `C_MessageVerifyFinal` (PKCS#11 3.0).
    pub message_verify: Option<message::Process<dyn crate::mechanism::VerifyOp>>,
}

/// One session.
pub struct Session {
    /// Its handle.
    pub handle: CK_SESSION_HANDLE,
    /// Its token.
    pub token: Arc<Token>,
    /// The application it belongs to.
    pub app: AppId,
    /// Read/write session.
    pub rw: bool,
    /// Operations in progress.
    pub ops: Mutex<Ops>,
}

impl Session {
    /// `CKS_*` for this session.
    pub fn state(&self, ts: &TokenState) -> CK_STATE {
        match (ts.login().map(|l| l.user), self.rw) {
            (Some(CKU_SO), _) => CKS_RW_SO_FUNCTIONS,
            (Some(_), true) => CKS_RW_USER_FUNCTIONS,
            (Some(_), false) => CKS_RO_USER_FUNCTIONS,
            (None, true) => CKS_RW_PUBLIC_SESSION,
            (None, false) => CKS_RO_PUBLIC_SESSION,
        }
    }
}

/// What a function that returns bytes produced, for the length-query protocol
/// (PKCS#11 §5.2): either the bytes, or only their length (a length query, or a
/// buffer that is too small: the operation then stays active).
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// The caller must provide this many bytes.
    Len(usize),
    /// A result that is secret (a plaintext, key material): zeroized when dropped.
    Data(zeroize::Zeroizing<Vec<u8>>),
    /// A result that is not secret (a ciphertext, a signature, a digest): wiping
    /// a 1 MiB ciphertext byte by byte would cost more than encrypting it.
    Public(Vec<u8>),
}

impl Output {
    /// The result as [`Output::Public`] when `secret` is false (a length stays a length).
    pub fn public_unless(self, secret: bool) -> Self {
        match self {
            Output::Data(mut d) if !secret => Output::Public(std::mem::take(&mut *d)),
            o => o,
        }
    }

    /// `Some(Output::Len(len))` when a buffer of `cap` bytes (`None`: a query)
    /// cannot take `len` bytes.
    pub fn need(cap: Option<usize>, len: usize) -> Option<Output> {
        match cap {
            Some(c) if c >= len => None,
            _ => Some(Output::Len(len)),
        }
    }
}
