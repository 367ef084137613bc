//! The module's global state: one [`Module`] between `C_Initialize` and `C_Finalize`.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cryptoki_sys::*;
use ferrohsm_store::{KdfParams, PartitionRecord, Store};
use parking_lot::{Mutex, RwLock};

use crate::crypto::{self, Provider};
use crate::error::{Result, err};
use crate::mechanism::Registry;
use crate::token::{Session, Token};

/// Everything that lives between `C_Initialize` and `C_Finalize`.
pub struct Module {
    /// The store.
    pub store: Store,
    /// The crypto provider.
    pub provider: Arc<dyn Provider>,
    /// Mechanisms this build offers.
    pub mechanisms: Registry,
    /// Whether key usage is counted into the audit log (`audit_key_usage`).
    pub count_usage: bool,
    /// Tokens in slot-list order: user partitions by id, the admin token last.
    slots: RwLock<Vec<Arc<Token>>>,
    /// Open sessions.
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    next_session: AtomicU64,
    next_handle: AtomicU64,
    /// When the module was initialised.
    pub started: Instant,
    /// Seed material mixed into `C_GenerateRandom` output by `C_SeedRandom`.
    pub seed: Mutex<Option<[u8; 32]>>,
}

static MODULE: RwLock<Option<Arc<Module>>> = RwLock::new(None);

/// An application, in PKCS#11's sense (§2.5): what sessions and logins belong to.
/// The process that loaded the module is application [`LOCAL_APP`]; each client of
/// `ferrohsm serve` is another, so that one client's login is not another's.
pub type AppId = u64;

/// The application of calls through the C ABI.
pub const LOCAL_APP: AppId = 0;

thread_local! {
    /// The application the calls of this thread come from.
    static APP: Cell<AppId> = const { Cell::new(LOCAL_APP) };
}

static NEXT_APP: AtomicU64 = AtomicU64::new(LOCAL_APP + 1);

/// The application of the current call.
pub fn app() -> AppId {
    APP.with(Cell::get)
}

/// A new application id (a new client of the server).
pub fn new_app() -> AppId {
    NEXT_APP.fetch_add(1, Ordering::Relaxed)
}

/// Makes the calls of this thread come from `app` from now on (a server thread that
/// serves one client).
pub fn set_app(app: AppId) {
    APP.with(|a| a.set(app));
}

/// Set in a forked child (by the `pthread_atfork` handler): the inherited module
/// belongs to the parent and must not be used.
static FORKED: AtomicBool = AtomicBool::new(false);

/// The initialised module.
pub fn get() -> Result<Arc<Module>> {
    if FORKED.load(Ordering::Relaxed) {
        return Err(err(CKR_CRYPTOKI_NOT_INITIALIZED, "this process was forked: call C_Initialize again"));
    }
    MODULE.read().clone().ok_or_else(|| err(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Initialize has not been called"))
}

/// Called in the child after `fork()`.
pub fn mark_forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// In a forked child, drops the parent's module without running its destructors
/// (they would flush the parent's store from the child) and returns its store path
/// so the caller can close the inherited descriptors.
pub fn abandon_inherited() -> Option<std::path::PathBuf> {
    if !FORKED.swap(false, Ordering::Relaxed) {
        return None;
    }
    let old = MODULE.write().take()?;
    let path = old.store.path().to_path_buf();
    std::mem::forget(old);
    Some(path)
}

/// `C_Initialize`'s work: read the configuration, open the store, load the tokens.
pub fn initialize() -> Result<()> {
    let mut slot = MODULE.write();
    if slot.is_some() {
        return Err(err(CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize was already called"));
    }
    let settings = ferrohsm_store::config::resolve()?;
    crate::logging::init(settings.config.log.as_deref());
    let provider_name = std::env::var("FERROHSM_PROVIDER").ok().or(settings.config.provider.clone());
    let provider = crypto::select(provider_name.as_deref())?;
    let kdf = KdfParams {
        m_kib: settings.config.pin_kdf_memory_kib.unwrap_or(KdfParams::DEFAULT.m_kib),
        t: settings.config.pin_kdf_passes.unwrap_or(KdfParams::DEFAULT.t),
        p: KdfParams::DEFAULT.p,
    };
    let store = Store::open(&settings.store, provider.clone(), kdf)?;
    let module = Module {
        store,
        mechanisms: Registry::new(provider.as_ref()),
        count_usage: settings.config.audit_key_usage.unwrap_or(true),
        provider,
        slots: RwLock::new(Vec::new()),
        sessions: RwLock::new(HashMap::new()),
        next_session: AtomicU64::new(1),
        next_handle: AtomicU64::new(1),
        started: Instant::now(),
        seed: Mutex::new(None),
    };
    let mut tokens = Vec::new();
    for rec in module.store.partitions()? {
        tokens.push(Arc::new(Token::load(&module, rec)?));
    }
    *module.slots.write() = tokens;
    crate::token::partition::refresh_all(&module);
    // A fresh store gets its device root and attestation keys now.
    crate::token::attest::ensure_chain(&module)?;
    log::info!("initialised: store {}, provider {}", module.store.path().display(), module.provider.name());
    *slot = Some(Arc::new(module));
    Ok(())
}

/// `C_Finalize`'s work: waits briefly for calls in flight, then closes the store.
pub fn finalize() -> Result<()> {
    let module = MODULE.write().take().ok_or_else(|| err(CKR_CRYPTOKI_NOT_INITIALIZED, "not initialised"))?;
    // Uses not yet reported go to the audit log before the store closes.
    for token in module.tokens() {
        crate::token::audit::report_token_usage(&module, token.partition, &token.state.read());
    }
    // Other threads may still be inside a call holding a reference; the store must
    // be closed (and its lock released) before C_Finalize returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&module) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    if Arc::strong_count(&module) > 1 {
        log::warn!("C_Finalize: calls still running after 10 s; the store closes when they end");
    }
    drop(module);
    Ok(())
}

impl Module {
    /// A new object handle.
    pub fn new_handle(&self) -> CK_OBJECT_HANDLE {
        self.next_handle.fetch_add(1, Ordering::Relaxed) as CK_OBJECT_HANDLE
    }

    /// Every token, in slot-list order.
    pub fn tokens(&self) -> Vec<Arc<Token>> {
        self.slots.read().clone()
    }

    /// The token in `slot`.
    pub fn token(&self, slot: CK_SLOT_ID) -> Result<Arc<Token>> {
        self.slots
            .read()
            .iter()
            .find(|t| t.slot_id == slot)
            .cloned()
            .ok_or_else(|| err(CKR_SLOT_ID_INVALID, format!("no slot {slot}")))
    }

    /// Adds the token of a new partition (before the admin token).
    pub fn add_token(&self, rec: PartitionRecord) -> Result<Arc<Token>> {
        let token = Arc::new(Token::load(self, rec)?);
        let mut slots = self.slots.write();
        let at = slots.iter().position(|t| t.admin).unwrap_or(slots.len());
        slots.insert(at, token.clone());
        Ok(token)
    }

    /// Removes a partition's token and closes its sessions.
    pub fn remove_token(&self, slot: CK_SLOT_ID) {
        self.slots.write().retain(|t| t.slot_id != slot);
        self.sessions.write().retain(|_, s| s.token.slot_id != slot);
    }

    /// The session with `handle`, if it belongs to the calling application (another
    /// application's session is no session of ours).
    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        let app = app();
        self.sessions
            .read()
            .get(&handle)
            .filter(|s| s.app == app)
            .cloned()
            .ok_or_else(|| err(CKR_SESSION_HANDLE_INVALID, format!("no session {handle}")))
    }

    /// Registers a new session.
    pub fn add_session(&self, make: impl FnOnce(CK_SESSION_HANDLE) -> Session) -> CK_SESSION_HANDLE {
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed) as CK_SESSION_HANDLE;
        self.sessions.write().insert(handle, Arc::new(make(handle)));
        handle
    }

    /// Unregisters a session of the calling application.
    pub fn take_session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        let app = app();
        let mut sessions = self.sessions.write();
        match sessions.get(&handle) {
            Some(s) if s.app == app => Ok(sessions.remove(&handle).expect("just seen")),
            _ => Err(err(CKR_SESSION_HANDLE_INVALID, format!("no session {handle}"))),
        }
    }

    /// Unregisters every session of the calling application on a slot (`None`: on
    /// every slot).
    pub fn take_sessions_of(&self, slot: Option<CK_SLOT_ID>) -> Vec<Arc<Session>> {
        let app = app();
        let mut sessions = self.sessions.write();
        let handles: Vec<_> = sessions
            .values()
            .filter(|s| s.app == app && slot.is_none_or(|slot| s.token.slot_id == slot))
            .map(|s| s.handle)
            .collect();
        handles.iter().filter_map(|h| sessions.remove(h)).collect()
    }

    /// How many sessions the calling application has on a slot, and how many of
    /// them are read-only.
    pub fn app_sessions(&self, slot: CK_SLOT_ID) -> (usize, usize) {
        let app = app();
        let sessions = self.sessions.read();
        let mine = sessions.values().filter(|s| s.app == app && s.token.slot_id == slot);
        mine.fold((0, 0), |(all, ro), s| (all + 1, ro + usize::from(!s.rw)))
    }

    /// A fresh `CKA_UNIQUE_ID`: 128 random bits in hex.
    pub fn unique_id(&self) -> String {
        let mut b = [0u8; 16];
        self.provider.fill_random(&mut b);
        hex(&b)
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
