//! WASI error numbers, and how host errors map onto them.

use std::io;

macro_rules! errnos {
    ($($name:ident = $value:literal, $doc:literal;)*) => {
        /// A WASI `errno` value, as returned to the guest.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
        #[repr(u16)]
        pub enum Errno {
            $(
                #[doc = $doc]
                #[error($doc)]
                $name = $value,
            )*
        }
    };
}

errnos! {
    Success = 0, "no error occurred";
    TooBig = 1, "argument list too long";
    Acces = 2, "permission denied";
    AddrInUse = 3, "address in use";
    AddrNotAvail = 4, "address not available";
    AfNoSupport = 5, "address family not supported";
    Again = 6, "resource unavailable, or operation would block";
    Already = 7, "connection already in progress";
    Badf = 8, "bad file descriptor";
    BadMsg = 9, "bad message";
    Busy = 10, "device or resource busy";
    Canceled = 11, "operation canceled";
    Child = 12, "no child processes";
    ConnAborted = 13, "connection aborted";
    ConnRefused = 14, "connection refused";
    ConnReset = 15, "connection reset";
    Deadlk = 16, "resource deadlock would occur";
    DestAddrReq = 17, "destination address required";
    Dom = 18, "mathematics argument out of domain of function";
    Dquot = 19, "disk quota exceeded";
    Exist = 20, "file exists";
    Fault = 21, "bad address";
    Fbig = 22, "file too large";
    HostUnreach = 23, "host is unreachable";
    Idrm = 24, "identifier removed";
    Ilseq = 25, "illegal byte sequence";
    InProgress = 26, "operation in progress";
    Intr = 27, "interrupted function";
    Inval = 28, "invalid argument";
    Io = 29, "I/O error";
    IsConn = 30, "socket is connected";
    IsDir = 31, "is a directory";
    Loop = 32, "too many levels of symbolic links";
    Mfile = 33, "file descriptor value too large";
    Mlink = 34, "too many links";
    MsgSize = 35, "message too large";
    Multihop = 36, "multihop attempted";
    NameTooLong = 37, "filename too long";
    NetDown = 38, "network is down";
    NetReset = 39, "connection aborted by network";
    NetUnreach = 40, "network unreachable";
    Nfile = 41, "too many files open in system";
    NoBufs = 42, "no buffer space available";
    NoDev = 43, "no such device";
    NoEnt = 44, "no such file or directory";
    NoExec = 45, "executable file format error";
    NoLck = 46, "no locks available";
    NoLink = 47, "link has been severed";
    NoMem = 48, "not enough space";
    NoMsg = 49, "no message of the desired type";
    NoProtoOpt = 50, "protocol not available";
    NoSpc = 51, "no space left on device";
    NoSys = 52, "function not supported";
    NotConn = 53, "the socket is not connected";
    NotDir = 54, "not a directory or a symbolic link to a directory";
    NotEmpty = 55, "directory not empty";
    NotRecoverable = 56, "state not recoverable";
    NotSock = 57, "not a socket";
    NotSup = 58, "not supported, or operation not supported on socket";
    NoTty = 59, "inappropriate I/O control operation";
    Nxio = 60, "no such device or address";
    Overflow = 61, "value too large to be stored in data type";
    OwnerDead = 62, "previous owner died";
    Perm = 63, "operation not permitted";
    Pipe = 64, "broken pipe";
    Proto = 65, "protocol error";
    ProtoNoSupport = 66, "protocol not supported";
    ProtoType = 67, "protocol wrong type for socket";
    Range = 68, "result too large";
    Rofs = 69, "read-only file system";
    Spipe = 70, "invalid seek";
    Srch = 71, "no such process";
    Stale = 72, "reserved";
    TimedOut = 73, "connection timed out";
    TxtBsy = 74, "text file busy";
    Xdev = 75, "cross-device link";
    NotCapable = 76, "capabilities insufficient";
}

impl Errno {
    /// The host `errno` (Linux numbering) mapped to its WASI meaning; `Io`
    /// for anything without a counterpart.
    pub fn from_raw_os_error(code: i32) -> Errno {
        use libc::*;
        match code {
            0 => Errno::Success,
            E2BIG => Errno::TooBig,
            EACCES => Errno::Acces,
            EADDRINUSE => Errno::AddrInUse,
            EADDRNOTAVAIL => Errno::AddrNotAvail,
            EAFNOSUPPORT => Errno::AfNoSupport,
            EAGAIN => Errno::Again,
            EALREADY => Errno::Already,
            EBADF => Errno::Badf,
            EBADMSG => Errno::BadMsg,
            EBUSY => Errno::Busy,
            ECANCELED => Errno::Canceled,
            ECHILD => Errno::Child,
            ECONNABORTED => Errno::ConnAborted,
            ECONNREFUSED => Errno::ConnRefused,
            ECONNRESET => Errno::ConnReset,
            EDEADLK => Errno::Deadlk,
            EDESTADDRREQ => Errno::DestAddrReq,
            EDOM => Errno::Dom,
            EDQUOT => Errno::Dquot,
            EEXIST => Errno::Exist,
            EFAULT => Errno::Fault,
            EFBIG => Errno::Fbig,
            EHOSTUNREACH => Errno::HostUnreach,
            EIDRM => Errno::Idrm,
            EILSEQ => Errno::Ilseq,
            EINPROGRESS => Errno::InProgress,
            EINTR => Errno::Intr,
            EINVAL => Errno::Inval,
            EIO => Errno::Io,
            EISCONN => Errno::IsConn,
            EISDIR => Errno::IsDir,
            ELOOP => Errno::Loop,
            EMFILE => Errno::Mfile,
            EMLINK => Errno::Mlink,
            EMSGSIZE => Errno::MsgSize,
            EMULTIHOP => Errno::Multihop,
            ENAMETOOLONG => Errno::NameTooLong,
            ENETDOWN => Errno::NetDown,
            ENETRESET => Errno::NetReset,
            ENETUNREACH => Errno::NetUnreach,
            ENFILE => Errno::Nfile,
            ENOBUFS => Errno::NoBufs,
            ENODEV => Errno::NoDev,
            ENOENT => Errno::NoEnt,
            ENOEXEC => Errno::NoExec,
            ENOLCK => Errno::NoLck,
            ENOLINK => Errno::NoLink,
            ENOMEM => Errno::NoMem,
            ENOMSG => Errno::NoMsg,
            ENOPROTOOPT => Errno::NoProtoOpt,
            ENOSPC => Errno::NoSpc,
            ENOSYS => Errno::NoSys,
            ENOTCONN => Errno::NotConn,
            ENOTDIR => Errno::NotDir,
            ENOTEMPTY => Errno::NotEmpty,
            ENOTRECOVERABLE => Errno::NotRecoverable,
            ENOTSOCK => Errno::NotSock,
            EOPNOTSUPP => Errno::NotSup,
            ENOTTY => Errno::NoTty,
            ENXIO => Errno::Nxio,
            EOVERFLOW => Errno::Overflow,
            EOWNERDEAD => Errno::OwnerDead,
            EPERM => Errno::Perm,
            EPIPE => Errno::Pipe,
            EPROTO => Errno::Proto,
            EPROTONOSUPPORT => Errno::ProtoNoSupport,
            EPROTOTYPE => Errno::ProtoType,
            ERANGE => Errno::Range,
            EROFS => Errno::Rofs,
            ESPIPE => Errno::Spipe,
            ESRCH => Errno::Srch,
            ESTALE => Errno::Stale,
            ETIMEDOUT => Errno::TimedOut,
            ETXTBSY => Errno::TxtBsy,
            EXDEV => Errno::Xdev,
            _ => Errno::Io,
        }
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        if let Some(code) = e.raw_os_error() {
            return Errno::from_raw_os_error(code);
        }
        // Errors made up in user space, most importantly cap-std's refusal
        // of a path that would leave its directory (PermissionDenied).
        match e.kind() {
            io::ErrorKind::NotFound => Errno::NoEnt,
            io::ErrorKind::PermissionDenied => Errno::Perm,
            io::ErrorKind::AlreadyExists => Errno::Exist,
            io::ErrorKind::InvalidInput => Errno::Inval,
            io::ErrorKind::InvalidData => Errno::Ilseq,
            io::ErrorKind::WouldBlock => Errno::Again,
            io::ErrorKind::Interrupted => Errno::Intr,
            io::ErrorKind::BrokenPipe => Errno::Pipe,
            io::ErrorKind::Unsupported => Errno::NotSup,
            io::ErrorKind::OutOfMemory => Errno::NoMem,
            io::ErrorKind::UnexpectedEof => Errno::Io,
            _ => Errno::Io,
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno::from_raw_os_error(e.raw_os_error())
    }
}

/// How a hostcall ends: with an errno for the guest, or by ending the run.
#[derive(Debug)]
pub(crate) enum HostError {
    /// Return this errno to the guest.
    Errno(Errno),
    /// End the guest's run with this runtime error (`proc_exit`).
    Stop(lucet_runtime::Error),
    /// The run was stopped (deadline or interrupt) while the call waited:
    /// end it with the runtime's reason.
    Stopped,
}

impl From<Errno> for HostError {
    fn from(e: Errno) -> Self {
        HostError::Errno(e)
    }
}

impl From<io::Error> for HostError {
    fn from(e: io::Error) -> Self {
        HostError::Errno(e.into())
    }
}

impl From<rustix::io::Errno> for HostError {
    fn from(e: rustix::io::Errno) -> Self {
        HostError::Errno(e.into())
    }
}

/// What hostcall implementations return.
pub(crate) type HostResult<T = ()> = Result<T, HostError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_host_errors() {
        assert_eq!(Errno::from_raw_os_error(libc::ENOENT), Errno::NoEnt);
        assert_eq!(Errno::from_raw_os_error(libc::EOPNOTSUPP), Errno::NotSup);
        assert_eq!(
            Errno::from(io::Error::from(io::ErrorKind::PermissionDenied)),
            Errno::Perm
        );
        assert_eq!(Errno::NotCapable as u16, 76);
        assert_eq!(Errno::Fault as u16, 21);
    }
}
