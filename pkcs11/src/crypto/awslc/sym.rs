//! [`crate::crypto::SymOps`] for AwsLc.

use super::AwsLc;
use crate::crypto::SymOps;

impl SymOps for AwsLc {}
