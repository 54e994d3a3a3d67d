//! `ClientFrame::parse` on any input: bytes that are not UTF-8 become U+FFFD, so no mutation is
//! wasted.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chat_shared_fuzz::frame::check(&String::from_utf8_lossy(data));
});
