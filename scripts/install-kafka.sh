#!/usr/bin/env bash
# Installs a Kafka broker (KRaft, no ZooKeeper) as plain jars from Maven Central into
# .cache/kafka/lib, so integration tests can run it with `java -cp` without Docker or a
# tarball download. Maven's own repository (~/.m2 by default) stays the cache, so a second
# run on the same machine costs only the copy, and a run with a matching stamp costs nothing.
set -euo pipefail

KAFKA_VERSION="4.4.0"
SCALA_BINARY="2.13"
LOG4J_VERSION="2.25.5"
# Kafka declares the SLF4J 1.7 API; the log4j-slf4j2-impl binding needs the 2.x API, which
# is backwards compatible with callers written against 1.7.
SLF4J_VERSION="2.0.17"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOME="$ROOT/.cache/kafka"
LIB="$KAFKA_HOME/lib"
STAMP="$KAFKA_HOME/.installed"
WANT="kafka_${SCALA_BINARY}-${KAFKA_VERSION} log4j-${LOG4J_VERSION} slf4j-${SLF4J_VERSION}"

write_log4j_config() {
  # The broker is chatty at INFO; tests only need warnings and errors on the console,
  # which the broker helper captures into a log file for failure messages.
  cat > "$KAFKA_HOME/log4j2.properties" <<'PROPS'
status = warn
name = kafka-test
appender.console.type = Console
appender.console.name = STDOUT
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
PROPS
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && compgen -G "$LIB/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" > /dev/null; then
  write_log4j_config
  echo "install-kafka: Kafka ${KAFKA_VERSION} already in $LIB"
  exit 0
fi

command -v java > /dev/null || {
  echo "install-kafka: Kafka needs Java 17+, and there is no java on PATH. Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)." >&2
  exit 1
}
command -v mvn > /dev/null || {
  echo "install-kafka: the Kafka jars are fetched from Maven Central with Maven, and there is no mvn on PATH. Install it (Debian/Ubuntu: apt-get install maven; macOS: brew install maven), or copy .cache/kafka from a machine that has run this script." >&2
  exit 1
}
echo "install-kafka: installing Kafka ${KAFKA_VERSION} into $LIB through Maven (once; later runs find it in place)"

mkdir -p "$KAFKA_HOME"
BUILD="$KAFKA_HOME/build"
rm -rf "$BUILD" "$LIB.tmp"
mkdir -p "$BUILD"

# A throwaway pom lets Maven resolve the whole runtime closure (kafka-server, kafka-metadata,
# kafka-raft, scala-library, ...) in one go; the log4j2 binding is added explicitly because
# Kafka only declares the SLF4J API and leaves the backend to the distribution. kafka-tools
# is deliberately left out: StorageTool lives in the core jar, and kafka-tools would drag in
# Connect, Jetty and Jersey that a test broker never loads.
cat > "$BUILD/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>paybound.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-server</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-metadata</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>${SLF4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
POM

# Runtime scope keeps test-only artifacts out; copying into a temporary folder and renaming
# means an interrupted run never leaves a half-filled lib that the stamp check would trust.
mvn -B -q -Dstyle.color=never -f "$BUILD/pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$LIB.tmp"

# Two SLF4J bindings on one classpath make SLF4J pick one arbitrarily; keep only log4j2.
rm -f "$LIB.tmp"/slf4j-reload4j-*.jar "$LIB.tmp"/slf4j-log4j12-*.jar "$LIB.tmp"/logback-classic-*.jar

rm -rf "$LIB"
mv "$LIB.tmp" "$LIB"
rm -rf "$BUILD"
write_log4j_config
echo "$WANT" > "$STAMP"
echo "install-kafka: Kafka ${KAFKA_VERSION} installed into $LIB ($(ls "$LIB" | wc -l) jars)"
