//! Slot and token management (PKCS#11 §5.5): slot lists, slot and token
//! information, mechanisms, `C_InitToken`.

use cryptoki_sys::*;
use ferrohsm_store::{PinRecord, Role};

use super::general::{padded, version};
use super::{MAX_PIN_LEN, TokenState, login, partition};
use crate::error::{Result, err};
use crate::module::{Module, hex};
use crate::object::Lifetime;
use crate::vendor::{
    CKA_FERRO_KEY_ROLE, CKM_FERRO_DEVICE_ATTEST, CKM_FERRO_DEVICE_CSR, CKM_FERRO_KEY_ATTEST_CERT,
    CKM_FERRO_KEY_ATTEST_EVIDENCE, CKM_FERRO_TIMESTAMP,
};

/// `C_GetSlotList`: every slot has a token, so `token_present` changes nothing.
pub fn get_slot_list(m: &Module) -> Vec<CK_SLOT_ID> {
    m.tokens().iter().map(|t| t.slot_id).collect()
}

/// `C_GetSlotInfo`.
pub fn get_slot_info(m: &Module, slot: CK_SLOT_ID) -> Result<CK_SLOT_INFO> {
    let token = m.token(slot)?;
    let desc = if token.admin {
        "ferrohsm admin token".to_string()
    } else {
        format!("ferrohsm partition {}", token.partition)
    };
    Ok(CK_SLOT_INFO {
        slotDescription: padded(desc.as_bytes()),
        manufacturerID: padded(b"ferrohsm"),
        flags: CKF_TOKEN_PRESENT,
        hardwareVersion: version(),
        firmwareVersion: version(),
    })
}

fn pin_flags(
    pin: Option<&PinRecord>,
    max: u32,
    count_low: CK_FLAGS,
    final_try: CK_FLAGS,
    locked: CK_FLAGS,
) -> CK_FLAGS {
    match pin {
        // COUNT_LOW: "an incorrect PIN has been entered at least once since the last
        // successful authentication", which stays true once the PIN is locked.
        Some(p) if p.locked => locked | count_low,
        Some(p) if p.failures > 0 && p.failures + 1 >= max => count_low | final_try,
        Some(p) if p.failures > 0 => count_low,
        _ => 0,
    }
}

/// `C_GetTokenInfo`.
pub fn get_token_info(m: &Module, slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
    let token = m.token(slot)?;
    let st = token.state.read();
    let rec = &st.record;
    let policy = st.policy();
    let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_CLOCK_ON_TOKEN;
    if rec.initialized {
        flags |= CKF_TOKEN_INITIALIZED;
    }
    if rec.user.is_some() {
        flags |= CKF_USER_PIN_INITIALIZED;
    }
    if policy.read_only {
        flags |= CKF_WRITE_PROTECTED;
    }
    let max = policy.max_pin_failures;
    flags |= pin_flags(rec.pin(Role::User), max, CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
    flags |= pin_flags(rec.pin(Role::So), max, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
    Ok(CK_TOKEN_INFO {
        label: padded(&rec.label),
        manufacturerID: padded(b"ferrohsm"),
        model: padded(if token.admin { b"ferrohsm admin" } else { b"ferrohsm" }),
        serialNumber: padded(hex(&rec.serial).as_bytes()),
        flags,
        ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
        ulSessionCount: st.sessions as CK_ULONG,
        ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
        ulRwSessionCount: st.rw_sessions as CK_ULONG,
        ulMaxPinLen: MAX_PIN_LEN as CK_ULONG,
        ulMinPinLen: policy.min_pin_len as CK_ULONG,
        ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
        ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
        ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
        ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
        hardwareVersion: version(),
        firmwareVersion: version(),
        utcTime: crate::time::token_time(crate::time::now()),
    })
}

/// `C_GetMechanismList`.
pub fn get_mechanism_list(m: &Module, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
    let token = m.token(slot)?;
    Ok(m.mechanisms.list().into_iter().filter(|&mech| offered_on(token.admin, mech)).collect())
}

/// `C_GetMechanismInfo`.
pub fn get_mechanism_info(m: &Module, slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO> {
    let token = m.token(slot)?;
    if !offered_on(token.admin, mech) {
        return Err(err(CKR_MECHANISM_INVALID, "not offered on this token"));
    }
    m.mechanisms.info(mech)
}

/// Whether a token offers a mechanism: the vendor mechanisms that need a key only one
/// kind of token has are listed there only (the device key and the device's own
/// attestation on the admin token; key attestation and timestamps in partitions).
fn offered_on(admin: bool, mech: CK_MECHANISM_TYPE) -> bool {
    match mech {
        CKM_FERRO_DEVICE_CSR | CKM_FERRO_DEVICE_ATTEST => admin,
        CKM_FERRO_KEY_ATTEST_CERT | CKM_FERRO_KEY_ATTEST_EVIDENCE | CKM_FERRO_TIMESTAMP => !admin,
        _ => true,
    }
}

/// Trims the blank padding of a 32-byte label field.
pub fn trim_label(label: &[u8]) -> &[u8] {
    let end = label.iter().rposition(|&c| c != b' ' && c != 0).map_or(0, |i| i + 1);
    &label[..end]
}

/// `C_InitToken`: (re)initialises a partition's token. Re-initialising needs the
/// current SO PIN and destroys every object of that partition (and only it).
pub fn init_token(m: &Module, slot: CK_SLOT_ID, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
    let token = m.token(slot)?;
    let mut st = token.write();
    if st.sessions > 0 {
        return Err(err(CKR_SESSION_EXISTS, "close the slot's sessions before C_InitToken"));
    }
    let policy = st.policy();
    if policy.read_only {
        return Err(err(CKR_TOKEN_WRITE_PROTECTED, "the partition is read-only"));
    }
    if st.record.initialized {
        login::verify_pin(m, token.partition, &mut st, Role::So, so_pin, "token_init")?;
    } else {
        policy.check_pin(so_pin)?;
    }
    // The partition's own keys (attestation, timestamp) and their certificates stay.
    let keep: Vec<u64> = st
        .objects
        .iter()
        .filter(|o| o.attrs.ulong(CKA_FERRO_KEY_ROLE).is_some_and(|r| r != 0))
        .filter_map(|o| match o.lifetime {
            Lifetime::Token(oid) => Some(oid),
            _ => None,
        })
        .collect();
    let (record, _master) = m.store.init_token(token.partition, so_pin, trim_label(label), &keep)?;
    super::audit::record(m, token.partition, super::audit::SO, "token_init", None, CKR_OK)?;
    reset(&mut st, record, &keep);
    drop(st);
    partition::refresh(m, token.partition);
    log::info!("slot {slot}: token initialised");
    Ok(())
}

/// Replaces a token's state after initialisation: no login, no token objects but the
/// ones kept.
fn reset(st: &mut TokenState, record: ferrohsm_store::PartitionRecord, keep: &[u64]) {
    st.record = record;
    st.logins.clear();
    let gone = st.objects.remove_where(|o| match o.lifetime {
        Lifetime::Partition(_) => false,
        Lifetime::Token(oid) => !keep.contains(&oid),
        Lifetime::Session(_) => true,
    });
    for o in gone {
        if let Lifetime::Token(oid) = o.lifetime {
            st.handles.remove(&oid);
        }
    }
    st.locked_private = 0;
}
