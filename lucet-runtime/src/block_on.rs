//! Waiting for a future on the current thread, for synchronous runs whose
//! hostcalls await: the thread parks until the future's waker or a stop of
//! the run wakes it.

use crate::run_control::RunControl;
use crate::{Error, Val};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `fut` to completion, parking the thread while it is pending; give
/// up with [`Error::Terminated`] as soon as the run is stopped.
pub(crate) fn block_on<F>(fut: F, control: &RunControl) -> Result<Vec<Val>, Error>
where
    F: Future<Output = Result<Vec<Val>, Error>>,
{
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        // Registered before each poll, so a stop after this point unparks us.
        control.set_waker(&waker).map_err(Error::Terminated)?;
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
