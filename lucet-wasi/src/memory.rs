//! Checked access to the guest's linear memory. Every guest pointer and
//! length goes through here; anything out of bounds is `EFAULT`.

use crate::abi::size;
use crate::errno::Errno;

/// The guest's linear memory during one hostcall.
pub(crate) struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

/// One `iovec`/`ciovec`: a guest buffer, already checked to lie in memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoVec {
    pub ptr: u32,
    pub len: u32,
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes }
    }

    fn range(&self, ptr: u32, len: u32) -> Result<std::ops::Range<usize>, Errno> {
        let start = ptr as usize;
        let end = start + len as usize; // cannot overflow: both are u32
        if end > self.bytes.len() {
            return Err(Errno::Fault);
        }
        Ok(start..end)
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&self.bytes[r])
    }

    /// `len` writable bytes at `ptr`.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.bytes[r])
    }

    #[cfg(test)]
    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.slice(ptr, 4)?);
        Ok(u32::from_le_bytes(a))
    }

    pub fn write_bytes(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(data.len()).map_err(|_| Errno::Fault)?;
        self.slice_mut(ptr, len)?.copy_from_slice(data);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write_bytes(ptr, &[v])
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// The `count` iovecs at `ptr`, each checked to lie in memory, with
    /// their total length (`EINVAL` if it exceeds `u32::MAX`, as it must
    /// fit the returned size).
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<(Vec<IoVec>, u32), Errno> {
        let table_len = count.checked_mul(size::IOVEC).ok_or(Errno::Fault)?;
        let table = self.slice(ptr, table_len)?;
        let mut out = Vec::with_capacity(count as usize);
        let mut total: u32 = 0;
        for entry in table.chunks_exact(size::IOVEC as usize) {
            let ptr = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let len = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            self.range(ptr, len)?;
            total = total.checked_add(len).ok_or(Errno::Inval)?;
            out.push(IoVec { ptr, len });
        }
        Ok((out, total))
    }

    /// The buffers of checked iovecs, for a gathering write.
    pub fn gather(&self, iovs: &[IoVec]) -> Vec<&[u8]> {
        iovs.iter()
            .map(|v| &self.bytes[v.ptr as usize..(v.ptr + v.len) as usize])
            .collect()
    }

    /// A path or other string argument: its bytes, which must not contain
    /// NUL (`EINVAL`).
    pub fn path(&self, ptr: u32, len: u32) -> Result<&std::path::Path, Errno> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = self.slice(ptr, len)?;
        if bytes.contains(&0) {
            return Err(Errno::Inval);
        }
        Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_bounds_is_efault() {
        let mut buf = vec![0u8; 16];
        let mut m = GuestMemory::new(&mut buf);
        assert_eq!(m.read_u32(12), Ok(0));
        assert_eq!(m.read_u32(13), Err(Errno::Fault));
        assert_eq!(m.write_u64(u32::MAX, 1), Err(Errno::Fault));
        assert_eq!(m.slice(16, 0).map(|s| s.len()), Ok(0));
        assert_eq!(m.slice(17, 0).map(|s| s.len()), Err(Errno::Fault));
    }

    #[test]
    fn iovecs_are_checked() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        m.write_u32(0, 32).unwrap();
        m.write_u32(4, 8).unwrap();
        m.write_u32(8, 60).unwrap();
        m.write_u32(12, 8).unwrap();
        assert_eq!(m.iovecs(0, 1).unwrap().1, 8);
        assert_eq!(m.iovecs(0, 2).unwrap_err(), Errno::Fault);
        assert_eq!(m.iovecs(60, 1).unwrap_err(), Errno::Fault);
        assert_eq!(m.iovecs(0, u32::MAX).unwrap_err(), Errno::Fault);
    }
}
