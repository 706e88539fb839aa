/** Device-mapper: targets and tables that stack block devices into new block devices. */
package dev.cairn.dm;
