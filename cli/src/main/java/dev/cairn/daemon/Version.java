package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The build's version, from {@code cairn-version.properties} (filled in by Maven). */
public final class Version {
    private Version() {}

    public static String current() {
        try (InputStream in = Version.class.getResourceAsStream("/cairn-version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties props = new Properties();
            props.load(in);
            return props.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
