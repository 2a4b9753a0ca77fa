//! Exception tags as the host holds them: exported by an instance, or
//! made by the host for its functions to throw.

use crate::domain_id::DomainId;
use crate::error::Error;
use lucet_module::FuncType;
use std::sync::Arc;

/// An exception tag: an instance's (exported), or the host's. Tags are
/// compared by identity, not by type: two tags of the same type are
/// different tags, and an exception is caught only by a handler for the
/// tag it was thrown with.
#[derive(Clone)]
pub struct Tag {
    pub(crate) domain: Option<DomainId>,
    /// The address that identifies the tag.
    pub(crate) identity: usize,
    /// Keeps a host tag's identity allocated.
    pub(crate) host: Option<Arc<HostTag>>,
    pub(crate) ty: FuncType,
}

/// The definition of a host tag: its address is its identity.
pub(crate) struct HostTag {
    _byte: u8,
}

impl Tag {
    /// A new tag of the host, whose exceptions carry values of `ty`'s
    /// parameters (`ty` must have no results). It can be imported by any
    /// instance, of any store.
    pub fn new(ty: FuncType) -> Result<Tag, Error> {
        if !ty.results.is_empty() {
            return Err(Error::InvalidState(format!(
                "a tag's type has no results: {ty}"
            )));
        }
        let host = Arc::new(HostTag { _byte: 0 });
        Ok(Tag {
            domain: None,
            identity: Arc::as_ptr(&host) as usize,
            host: Some(host),
            ty,
        })
    }

    /// The type of its payload (the parameters of a type with no results).
    pub fn ty(&self) -> &FuncType {
        &self.ty
    }

    pub(crate) fn identity(&self) -> usize {
        self.identity
    }

    pub(crate) fn host(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.host
            .clone()
            .map(|h| h as Arc<dyn std::any::Any + Send + Sync>)
    }
}
