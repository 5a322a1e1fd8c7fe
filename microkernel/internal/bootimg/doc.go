// Package bootimg indexes armos's boot image: a cpio "newc" archive that
// QEMU hands to the kernel as the fw_cfg file opt/armos/image (see
// internal/fwcfg and cmd/mkimage).
//
// The image is not loaded into RAM. Parse walks the archive's headers
// through a read callback (random-access reads at an offset, as from a
// disk; in the kernel, fw_cfg DMA reads) and builds an Index that keeps
// only metadata: for every file its cleaned absolute path, mode, size,
// mtime and the offset of its data in the image, so the kernel can later
// read any byte range of a file straight from the device.
//
// Parse validates strictly and never panics: a malformed image yields an
// *Error that names the entry (its number, header offset and name) and
// wraps one of the Err* values below. The rules:
//
//   - magic 070701 ("newc") or 070702 ("crc"; a regular file's data
//     checksum is verified, which reads its data; like GNU cpio, other
//     entries' checksums are not looked at);
//   - every header field exactly 8 hexadecimal digits;
//   - name size 2..MaxNameSize (4096) with exactly one NUL, at the end;
//   - names may start with "/" or "./" and must otherwise be clean
//     relative paths (no empty, "." or ".." components, no trailing "/");
//     "." or "/" alone names the root directory;
//   - the name and data lie inside the image;
//   - a known file type; directories, device nodes, fifos and sockets
//     carry no data; a symlink's target is 1..4095 bytes;
//   - no path twice: a duplicate is an error (ErrDuplicate), never "last
//     one wins", so a stray second copy cannot silently replace a program;
//   - every parent of a path is a directory (ErrNotDir otherwise).
//     Parents that have no entry of their own are implied: directories
//     with mode 0755, owner 0 and mtime 0 (Entry.Implied). An explicit
//     entry for such a directory may come later and supplies its
//     attributes;
//   - the archive ends with an entry named "TRAILER!!!" (ErrNoTrailer);
//     bytes after the trailer (block padding) are not read;
//   - at most MaxEntries nodes (explicit entries plus implied directories
//     plus the root) and an image of at most MaxImageSize bytes.
//
// Hard links (entries sharing an inode number) are not supported: each
// entry stands alone, and Entry.Ino is the entry's 1-based position in
// path order, unique within one image. Lookup does not follow symbolic
// links; resolving them is the caller's job.
package bootimg
