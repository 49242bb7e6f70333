# The command line: --version prints the version, --help the usage, a bad
# option exits 2.
execute_process(COMMAND ${LAYERCAST} --version OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^layercast [0-9]+\\.[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "--version: rc=${rc} out=${out}")
endif()
execute_process(COMMAND ${LAYERCAST} --help OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT out MATCHES "usage: layercast")
  message(FATAL_ERROR "--help: rc=${rc} out=${out}")
endif()
execute_process(COMMAND ${LAYERCAST} --no-such-option OUTPUT_QUIET ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "bad option: rc=${rc}, expected 2")
endif()
