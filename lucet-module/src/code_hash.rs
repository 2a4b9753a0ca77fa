//! The hash of a compiled shared object that its module data records.
//!
//! The module data lives inside the object it describes, so the hash cannot
//! cover its own bytes: it is SHA-256 of every byte of the linked file with
//! the 32 bytes that hold it taken as zeros. That covers the machine code,
//! the read-only data, the rest of the module data (data segments, trap
//! tables) and the dynamic-linking metadata alike, so an accidental change
//! anywhere is caught. It is not a defence against deliberate tampering
//! (whoever can change the file can recompute it): signatures are.

use sha2::{Digest, Sha256};

/// Bytes in a code hash.
pub const CODE_HASH_LEN: usize = 32;

/// The hash of `file` whose hash field starts at `slot`; `None` if the
/// field does not fit in the file.
pub fn code_hash(file: &[u8], slot: usize) -> Option<[u8; CODE_HASH_LEN]> {
    let end = slot.checked_add(CODE_HASH_LEN)?;
    if end > file.len() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(&file[..slot]);
    h.update([0u8; CODE_HASH_LEN]);
    h.update(&file[end..]);
    Some(h.finalize().into())
}

/// Lower-case hex, as tools print the hash.
pub fn to_hex(hash: &[u8; CODE_HASH_LEN]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_does_not_count_and_everything_else_does() {
        let mut file = vec![7u8; 100];
        let h = code_hash(&file, 10).unwrap();
        file[10..42].copy_from_slice(&h);
        assert_eq!(code_hash(&file, 10), Some(h), "independent of the slot");
        file[0] ^= 1;
        assert_ne!(code_hash(&file, 10), Some(h));
        file[0] ^= 1;
        file[99] ^= 1;
        assert_ne!(code_hash(&file, 10), Some(h));
        assert_eq!(code_hash(&file, 69), None);
        assert_eq!(code_hash(&file, usize::MAX), None);
        assert!(code_hash(&file, 68).is_some());
    }

    #[test]
    fn the_hash_is_the_last_bytes_of_serialized_module_data() {
        let data = crate::ModuleData {
            name: Some("m".into()),
            code_hash: [0xab; CODE_HASH_LEN],
            ..crate::ModuleData::empty(crate::CompileOptions::default())
        };
        let mut bytes = data.serialize();
        let at = crate::ModuleData::code_hash_offset(&bytes).unwrap();
        assert_eq!(at, bytes.len() - CODE_HASH_LEN);
        assert_eq!(bytes[at..], [0xab; CODE_HASH_LEN]);
        bytes[at..].copy_from_slice(&[0x5a; CODE_HASH_LEN]);
        let back = crate::ModuleData::deserialize(&bytes).unwrap();
        assert_eq!(back.code_hash, [0x5a; CODE_HASH_LEN]);
        // A declared length that disagrees with the bytes has no offset.
        bytes.push(0);
        assert_eq!(crate::ModuleData::code_hash_offset(&bytes), None);
        assert_eq!(crate::ModuleData::code_hash_offset(&bytes[..10]), None);
    }
}
