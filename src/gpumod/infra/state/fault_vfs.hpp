// Fault injection in the state store's file layer (issue 19, F3), for tests that must run in CI
// without LD_PRELOAD, root or a tmpfs: a SQLite VFS that forwards every call to the default one
// and, before each read, write, truncate or sync of a database file, looks at a control file
// `<database>.faults`. Its first word is the fault to inject from then on:
//   full   writes, truncates and syncs fail with SQLITE_FULL (a full filesystem)
//   eio    writes, truncates and syncs fail with SQLITE_IOERR_WRITE (damaged media)
//   read   reads fail with SQLITE_IOERR_READ (records that cannot be read)
// Removing the file (or writing anything else) ends the fault. The VFS exists only when the
// environment sets GPUMOD_STATE_FAULT_INJECTION=1; otherwise the default VFS is used untouched and
// this costs nothing.
// Thread-safety: registration happens once (std::call_once); the VFS itself is stateless.
#pragma once

namespace gpumod::infra::state {

// The name of the fault-injecting VFS to pass to sqlite3_open_v2, or nullptr (the default VFS)
// when fault injection is not enabled in the environment.
const char* fault_vfs_name();

}  // namespace gpumod::infra::state
