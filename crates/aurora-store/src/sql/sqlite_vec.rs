//! Registers the sqlite-vec extension (vector tables and KNN queries) with the bundled SQLite
//! that sqlx links, for every connection opened afterwards.

use std::sync::Once;

/// Safe to call any number of times; registers once per process.
pub(crate) fn register() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `sqlite3_vec_init` has the signature of an SQLite extension entry point
        // (`int (*)(sqlite3*, char**, const sqlite3_api_routines*)`), which is what
        // `sqlite3_auto_extension` calls it as; it is compiled against the same SQLite
        // (SQLITE_CORE) that libsqlite3-sys bundles for sqlx. Registration happens once,
        // before this process opens any connection with the extension in use.
        #[allow(unsafe_code)]
        unsafe {
            let init: unsafe extern "C" fn() = sqlite_vec::sqlite3_vec_init;
            libsqlite3_sys::sqlite3_auto_extension(Some(std::mem::transmute::<
                unsafe extern "C" fn(),
                unsafe extern "C" fn(
                    *mut libsqlite3_sys::sqlite3,
                    *mut *mut std::os::raw::c_char,
                    *const libsqlite3_sys::sqlite3_api_routines,
                ) -> std::os::raw::c_int,
            >(init)));
        }
    });
}
