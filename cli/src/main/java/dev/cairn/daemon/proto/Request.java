package dev.cairn.daemon.proto;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A control request: one record per verb, its components the verb's arguments (the {@code args}
 * object on the wire). A record checks its required arguments in its constructor and throws a
 * {@code usage} error naming the one that is missing, so a handler only ever sees a complete request.
 * Which verb name and which {@link Reply} go with a request is said by its {@link Verb}. Absent
 * optional arguments (null) are left out of the wire form.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public interface Request {}
