//! Batched UDP I/O: `recvmmsg` with kernel receive timestamps (`SO_TIMESTAMPNS`) and
//! `sendmmsg` on Linux, one datagram per call elsewhere.
//!
//! Buffers are allocated once when the batch is made; receiving and sending allocate nothing.
//! Kernel timestamps keep arrival times (RFC 3550 jitter) exact even though a call reads its
//! socket only once per 20 ms tick.

use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Enables kernel receive timestamps on `fd` (best effort: without them, arrival is the time
/// of reading) and sets its buffer sizes to `buf_bytes` when non-zero.
pub fn configure(fd: RawFd, buf_bytes: i32) {
    let opt = |name, value| {
        let _ = super::os::set_socket_option(fd, libc::SOL_SOCKET, name, value);
    };
    opt(libc::SO_TIMESTAMPNS, 1);
    if buf_bytes > 0 {
        opt(libc::SO_RCVBUF, buf_bytes);
        opt(libc::SO_SNDBUF, buf_bytes);
    }
}

/// Datagram buffers for one `recvmmsg` or `sendmmsg` call.
pub struct Batch {
    size: usize,
    data: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<libc::sockaddr_in>,
    cmsg: Vec<[u64; 8]>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Kernel receive time of each datagram, nanoseconds since the Unix epoch (0: unknown).
    stamps: Vec<i64>,
    queued: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("count", &self.lens.len())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers in `iov`/`hdrs` only point into the batch's own vectors and are
// re-pointed before every system call; nothing is shared.
unsafe impl Send for Batch {}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

impl Batch {
    /// Room for `count` datagrams of up to `size` bytes.
    pub fn new(count: usize, size: usize) -> Batch {
        let count = count.max(1);
        // SAFETY: plain C structs for which all-zero is a valid value.
        let (zero_in, zero_hdr) = unsafe {
            (
                std::mem::zeroed::<libc::sockaddr_in>(),
                std::mem::zeroed::<libc::mmsghdr>(),
            )
        };
        Batch {
            size,
            data: vec![0; count * size],
            lens: vec![0; count],
            addrs: vec![zero_in; count],
            cmsg: vec![[0; 8]; count],
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                count
            ],
            hdrs: vec![zero_hdr; count],
            stamps: vec![0; count],
            queued: 0,
        }
    }

    /// Datagrams the batch holds at most.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// Points the headers at the buffers (every call: cheap, and immune to moves).
    fn prepare(&mut self, n: usize, recv: bool) {
        let size = self.size;
        for i in 0..n {
            self.iov[i] = libc::iovec {
                iov_base: self.data[i * size..].as_mut_ptr().cast(),
                iov_len: if recv { size } else { self.lens[i] },
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            if recv {
                h.msg_control = self.cmsg[i].as_mut_ptr().cast();
                h.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            h.msg_flags = 0;
        }
    }

    /// Receives up to [`capacity`](Self::capacity) datagrams without blocking; their count.
    pub fn recv(&mut self, fd: RawFd) -> usize {
        let n = self.capacity();
        self.prepare(n, true);
        // SAFETY: all `n` headers point at live buffers of the sizes given.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r <= 0 {
            return 0;
        }
        let got = r as usize;
        for i in 0..got {
            self.lens[i] = self.hdrs[i].msg_len as usize;
            self.stamps[i] = self.stamp(i);
        }
        got
    }

    /// Receives until the socket is empty, handing each datagram to `f` (the batch and the
    /// datagram's index). A batch that comes back short means nothing more is queued.
    pub fn drain(&mut self, fd: RawFd, mut f: impl FnMut(&mut Batch, usize)) {
        loop {
            let n = self.recv(fd);
            for i in 0..n {
                f(self, i);
            }
            if n < self.capacity() {
                return;
            }
        }
    }

    fn stamp(&self, i: usize) -> i64 {
        let h = &self.hdrs[i].msg_hdr;
        // SAFETY: walks the control buffer the kernel filled, with the libc CMSG macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        0
    }

    /// Datagram `i` of the last [`recv`](Self::recv), mutable (SRTP decrypts in place).
    pub fn datagram(&mut self, i: usize) -> &mut [u8] {
        let start = i * self.size;
        &mut self.data[start..start + self.lens[i]]
    }

    /// Sender of datagram `i`.
    pub fn source(&self, i: usize) -> SocketAddr {
        let a = &self.addrs[i];
        SocketAddr::from((
            u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
            u16::from_be(a.sin_port),
        ))
    }

    /// Kernel receive time of datagram `i`, nanoseconds since the Unix epoch (0: unknown).
    pub fn stamp_ns(&self, i: usize) -> i64 {
        self.stamps[i]
    }

    /// When datagram `i` arrived, on the monotonic clock (`now` if the kernel gave no time).
    pub fn arrival(&self, i: usize, now: Instant, wall: SystemTime) -> Instant {
        let Ok(wall) = wall.duration_since(UNIX_EPOCH) else {
            return now;
        };
        let stamp = self.stamps[i];
        if stamp <= 0 {
            return now;
        }
        let ago = (wall.as_nanos() as i64).saturating_sub(stamp).max(0);
        now.checked_sub(Duration::from_nanos(ago as u64))
            .unwrap_or(now)
    }

    /// Queues one datagram to `to`, written by `fill` (which returns its length); sends the
    /// batch when full. Returns the datagrams sent by this call. IPv4 only: others are skipped.
    pub fn queue(
        &mut self,
        fd: RawFd,
        to: SocketAddr,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> u64 {
        let SocketAddr::V4(v4) = to else { return 0 };
        let i = self.queued;
        let start = i * self.size;
        self.lens[i] = fill(&mut self.data[start..start + self.size]).min(self.size);
        self.addrs[i] = sockaddr(v4);
        self.queued += 1;
        if self.queued == self.capacity() {
            self.flush(fd)
        } else {
            0
        }
    }

    /// Sends what is queued with `sendmmsg`; the number of datagrams the kernel took.
    pub fn flush(&mut self, fd: RawFd) -> u64 {
        let n = self.queued;
        self.queued = 0;
        if n == 0 {
            return 0;
        }
        self.prepare(n, false);
        let mut done = 0;
        while done < n {
            // SAFETY: headers done..n point at live buffers prepared above.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[done..].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if r <= 0 {
                break;
            }
            done += r as usize;
        }
        done as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn sends_and_receives_a_batch_with_timestamps() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        configure(b.as_raw_fd(), 0);
        let to = b.local_addr().unwrap();
        let mut tx = Batch::new(4, 64);
        let mut sent = 0;
        for k in 0..6u8 {
            sent += tx.queue(a.as_raw_fd(), to, |buf| {
                buf[..3].copy_from_slice(&[k, k, k]);
                3
            });
        }
        sent += tx.flush(a.as_raw_fd());
        assert_eq!(sent, 6);
        let mut rx = Batch::new(4, 64);
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = rx.recv(b.as_raw_fd());
            for i in 0..n {
                assert_eq!(rx.source(i), a.local_addr().unwrap());
                assert!(rx.stamp_ns(i) > 0);
                got.push(rx.datagram(i)[0]);
            }
            if got.len() == 6 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
    }
}
