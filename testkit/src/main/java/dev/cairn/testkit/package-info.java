/** Test support shared by the modules' tests: devices, data generators and real-client helpers. */
package dev.cairn.testkit;
