# Install rules and the Debian package (CPack DEB). `make install` and
# `make deb` drive these; see docs/deploy.md.
#
# Installed: the gatehouse binary, the systemd unit, the default config (a
# conffile in the .deb) and the docs. Not installed: unit tests, fuzzers,
# demo-origin (test tools only).

# /usr, not /usr/local, unless asked: the unit, the .deb and the docs all
# speak of /usr/bin/gatehouse. `make install PREFIX=...` overrides it.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
# `install` and cpack must not rebuild every test binary first; the Makefile's
# install and deb targets build gatehouse before they run.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS gatehouse RUNTIME DESTINATION bin)

# The unit names /usr/bin/gatehouse; under another prefix the installed copy
# names the binary where it was installed. Done at install time, because
# `cmake --install --prefix` and cpack pick the prefix then.
set(GH_SOURCE_DIR ${CMAKE_SOURCE_DIR})
set(GH_BINARY_DIR ${CMAKE_BINARY_DIR})
string(CONFIGURE [[
  file(READ "@GH_SOURCE_DIR@/packaging/gatehouse.service" unit)
  string(REPLACE "/usr/bin/gatehouse" "${CMAKE_INSTALL_PREFIX}/bin/gatehouse" unit "${unit}")
  # One staging file per destination: parallel installs (two cpack runs)
  # must not write the same file.
  string(MD5 dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
  set(staged "@GH_BINARY_DIR@/packaging/${dest}/gatehouse.service")
  file(WRITE "${staged}" "${unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${staged}")
  file(REMOVE_RECURSE "@GH_BINARY_DIR@/packaging/${dest}")
]] gh_install_unit @ONLY)
install(CODE "${gh_install_unit}")

# /etc/gatehouse whatever the prefix: systemd's ConfigurationDirectory= and
# the unit's ExecStart look there. An existing file is the operator's and is
# kept (`make install` again, e.g. to upgrade from source, must not undo
# their edits; the .deb does the same through conffiles).
set(GH_DEFAULT_CONFIG "${CMAKE_SOURCE_DIR}/packaging/gatehouse.yaml")
string(CONFIGURE [[
  if(EXISTS "$ENV{DESTDIR}/etc/gatehouse/gatehouse.yaml")
    message(STATUS "Kept (yours): $ENV{DESTDIR}/etc/gatehouse/gatehouse.yaml")
  else()
    file(INSTALL DESTINATION "/etc/gatehouse" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES "@GH_DEFAULT_CONFIG@")
  endif()
]] gh_install_config @ONLY)
install(CODE "${gh_install_config}")

install(FILES README.md docs/deploy.md docs/configuration.md docs/operations.md
              docs/tls.md docs/health-checks.md docs/caching.md docs/sso.md docs/jwt.md docs/waf.md
        DESTINATION share/doc/gatehouse)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gatehouse)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "gatehouse")
set(CPACK_PACKAGE_CONTACT "gatehouse maintainers <gatehouse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "reverse proxy for web applications")
# The summary is the Description's first line; this is the rest.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "gatehouse routes HTTP/1.1 and HTTP/2 by host and path to backends, keeps
WebSockets alive, terminates TLS, and names every failure it causes with an
RFC 9209 Proxy-Status header. Reloads (SIGHUP) and binary upgrades (SIGUSR2)
drop no connection. Installing this package enables and starts nothing:
see /usr/share/doc/gatehouse/deploy.md.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # gatehouse_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends computed from the binary's libraries by dpkg-shlibdeps (dpkg-dev),
# so it cannot fall behind what the link line pulls in.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The WAF's `rules: crs` reads the OWASP CRS from Debian's modsecurity-crs.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "modsecurity-crs")
# /usr and /etc as they are on the target: the config's absolute /etc path
# only works when cpack installs through DESTDIR.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debug info stays in the build dir; the package ships a stripped binary.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
