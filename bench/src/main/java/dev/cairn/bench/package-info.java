/** JMH benchmarks, run by hand with {@code java -jar bench/target/benchmarks.jar}. */
package dev.cairn.bench;
