//! Known-answer vectors from `test-vectors/` (NIST CAVP subsets, RFC and SP examples,
//! Wycheproof; sources in `test-vectors/README.md`), driven through the module's
//! PKCS#11 API only: each vector's key is imported with `C_CreateObject`, then the
//! mechanism runs as the vector says (encrypt, decrypt, sign, verify, wrap, unwrap,
//! derive), single-part and, where the mechanism allows, multi-part.
//!
//! One test per family, so CI shows which one fails. Each prints one line per file,
//! `passed / failed / skipped`, then every failed case with its id and what happened,
//! then every skip reason with its count (run with `--nocapture` to see them on
//! success too). Valid cases must give the expected output; invalid ones must be
//! refused with the right kind of code (see each family's `Refusal`); Wycheproof's
//! acceptable ones may go either way and are counted. Skips follow the three rules
//! in `vectors/rules.rs`.
//!
//! The module is ferrohsm unless `FERROHSM_VECTORS_MODULE` says otherwise
//! (`softhsm`, or a module's path): see `vectors/driver.rs`. For example
//! `FERROHSM_VECTORS_MODULE=softhsm cargo test --test vectors -- --nocapture`.

#[macro_use]
#[allow(unused_macros, unused_imports)]
mod common;

#[path = "vectors/asym.rs"]
mod asym;
#[path = "vectors/data.rs"]
mod data;
#[path = "vectors/driver.rs"]
mod driver;
#[path = "vectors/hash.rs"]
mod hash;
#[path = "vectors/report.rs"]
mod report;
#[path = "vectors/rules.rs"]
mod rules;
#[path = "vectors/sym.rs"]
mod sym;

use driver::Module;

#[test]
fn aes() {
    sym::aes(&Module::open());
}

#[test]
fn gcm() {
    sym::gcm(&Module::open());
}

#[test]
fn keywrap() {
    sym::keywrap(&Module::open());
}

#[test]
fn cmac() {
    sym::cmac(&Module::open());
}

#[test]
fn sha() {
    hash::sha(&Module::open());
}

#[test]
fn hmac() {
    hash::hmac(&Module::open());
}

#[test]
fn ecdsa() {
    asym::ecdsa(&Module::open());
}

#[test]
fn rsa() {
    asym::rsa(&Module::open());
}

#[test]
fn ecdh() {
    asym::ecdh(&Module::open());
}
