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
# Headless commands: option errors exit 2 with a message, before any thread.
foreach(args "source" "join" "join;nohost" "join;127.0.0.1:0;--headless"
        "source;--headless;--size;33x10" "source;--headless;--layers;2"
        "join;127.0.0.1:9;--headless;--size;320x180" "source;--headless;--max-layer;8"
        "bogus;--headless" "demo;--headless" "demo;--relays;9" "source;--headless;--relays;2"
        "join;127.0.0.1:9;--duration;5")
  execute_process(COMMAND ${LAYERCAST} ${args} OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "layercast: ")
    message(FATAL_ERROR "'${args}': rc=${rc} err=${err}, expected 2 and a message")
  endif()
endforeach()
# Interactive without a terminal: exit 2 and the way out.
execute_process(COMMAND ${LAYERCAST} demo --no-video INPUT_FILE /dev/null OUTPUT_QUIET
                ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 2 OR NOT err MATCHES "needs a terminal.*--headless")
  message(FATAL_ERROR "demo without a terminal: rc=${rc} err=${err}")
endif()
