//! The only place that talks to the operating system without std's safe wrappers: each
//! `unsafe` call is wrapped here in a small safe function, with the reason it is sound.
//! (`net::udp_batch`, the batched socket calls of the media path, is the other.)
//!
//! Everything is Linux/glibc as the gateway ships; errors are `io::Error`s from `errno`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Sets the integer socket option `level`/`name` on `fd` to `value`.
pub fn set_socket_option(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let value: libc::c_int = value;
    // SAFETY: setsockopt(2) reads `size_of::<c_int>()` bytes from a live c_int; a bad `fd` is
    // an error (EBADF/ENOTSOCK), not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path`
/// (`statvfs(3)`: available blocks × fragment size); `None` when it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs(3) with a NUL-terminated path and a buffer of the right type; the buffer
    // is read only when the call reports success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// This machine's host name (`gethostname(2)`), or `None` if it cannot be read.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for `buf.len()` bytes; the result is read only up to the first
    // NUL (or the whole buffer if the name was truncated without one).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Waits for an exclusive advisory lock (`flock(2)`, `LOCK_EX`) on `file`, retrying when a
/// signal interrupts the wait. The lock belongs to the open file and ends when it is closed.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor `file` owns and keeps open for this call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether this process runs as root (effective user id 0).
/// Clock ticks per second, the unit of the CPU times in `/proc/<pid>/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).unwrap_or(100)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Sends SIGHUP to process `pid` (`umgw reload` asking a running gateway to reload).
pub fn send_hangup(pid: i32) -> io::Result<()> {
    if pid <= 0 {
        // kill(2) reads 0 and negative ids as process groups: never what a pid file means.
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Terminal echo switched off on standard input (`tcsetattr(3)`; the newline still echoes)
/// until this is dropped, which restores the settings found.
pub struct EchoOff {
    saved: libc::termios,
}

impl EchoOff {
    /// Turns echo off on standard input; an error if it is not a terminal.
    pub fn stdin() -> io::Result<EchoOff> {
        let fd = libc::STDIN_FILENO;
        // SAFETY: termios is plain data; all-zero is a valid value that tcgetattr overwrites.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr on stdin writes into a live termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // SAFETY: tcsetattr on stdin reads a live termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings tcgetattr read, from a live termios.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

/// Puts the calling thread under SCHED_RR at `priority` (1-99). Needs CAP_SYS_NICE or an
/// RLIMIT_RTPRIO that allows it.
pub fn set_thread_realtime(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pthread_setschedparam on this thread with a live sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_RR, &param) };
    if rc == 0 {
        Ok(())
    } else {
        // pthread functions return the error number instead of setting errno.
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// The calling thread's nice value.
pub fn thread_nice() -> i32 {
    // SAFETY: getpriority on this thread's own id; no memory is passed.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// `struct sched_attr` (SCHED_ATTR_SIZE_VER0), which the libc crate does not declare.
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Sets the calling thread to SCHED_OTHER at `nice` with a time slice of `slice_us` (0: the
/// kernel's), with `sched_setattr(2)`. Since Linux 6.12 the slice is the EEVDF request size
/// and a waking thread with a shorter slice than the running one preempts it; older kernels
/// ignore it.
pub fn set_thread_fair(nice: i32, slice_us: u32) -> io::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: u64::from(slice_us) * 1000,
        deadline: 0,
        period: 0,
    };
    // SAFETY: sched_setattr(0 = this thread, a live sched_attr of the size it declares, 0).
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes a FIFO at `path` (tests that need a file whose reads block).
#[cfg(test)]
pub(crate) fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn safe_wrappers_answer() {
        let t = tempfile::tempdir().unwrap();
        assert!(free_bytes(t.path()).is_some_and(|b| b > 0));
        assert_eq!(free_bytes(&t.path().join("missing")), None);
        assert!(hostname().is_some_and(|h| !h.is_empty()));
        let nice = thread_nice();
        assert!((-20..=19).contains(&nice), "{nice}");
        assert_eq!(
            send_hangup(0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );

        let fifo = t.path().join("fifo");
        mkfifo(&fifo).unwrap();
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

        // flock locks belong to the open file: a second open waits, and can have it after.
        let path = t.path().join("lock");
        let first = File::create(&path).unwrap();
        lock_exclusive(&first).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let second = File::open(&path).unwrap();
            lock_exclusive(&second).unwrap();
            tx.send(()).unwrap();
        });
        let wait = std::time::Duration::from_millis(100);
        assert!(rx.recv_timeout(wait).is_err(), "the lock was not exclusive");
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();

        let t = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set_socket_option(t.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 16).unwrap();
        assert!(set_socket_option(-1, libc::SOL_SOCKET, libc::SO_RCVBUF, 1).is_err());
    }
}
