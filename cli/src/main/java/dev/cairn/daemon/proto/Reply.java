package dev.cairn.daemon.proto;

/**
 * A verb's answer: one record per verb (some verbs share one), written as the {@code result} of an
 * {@code {"ok":true,...}} line. Components are written in their order; a component marked
 * {@code @JsonInclude(NON_NULL)} is left out when null, as the hand-built maps of protocol 1 did.
 * A reader ignores members it does not know, so a daemon may add members without breaking older CLIs.
 */
public interface Reply {}
