/**
 * The NBD wire format: constants and encoders shared by the server and by tests that speak the
 * protocol byte by byte. No I/O and no threads here.
 */
package dev.cairn.nbd.protocol;
