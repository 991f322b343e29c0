package io.seldon.wrapper.config;

import io.seldon.wrapper.SeldonServing;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * What upstream's model apps {@code @Import}. Upstream's held Tomcat settings; here it brings in
 * {@link SeldonServing}, so an app that imports it without scanning {@code io.seldon.wrapper} is
 * served too (an app that also scans the package gets the one bean: Spring keeps one definition per
 * class).
 */
@Configuration(proxyBeanMethods = false)
@Import(SeldonServing.class)
public class AppConfig {}
