# Evently - every target runs a script of scripts/ (see scripts/env.sh for
# the environment: ports, paths, EVENTLY_ASAN=1 for the ASan build).

SHELL := /bin/bash
S := ./scripts

.DEFAULT_GOAL := help

.PHONY: help setup build build-asan up down run test psql seed logs \
        migrate clean bench docs

help:
	@echo 'Evently targets:'
	@echo '  make setup       install the Debian packages (root; no-op when present)'
	@echo '  make build       build the nginx module and the Kafka tools (build/)'
	@echo '  make build-asan  build the module with AddressSanitizer (build/asan/)'
	@echo '  make up          setup, build, start PostgreSQL/Redis/Kafka, migrate,'
	@echo '                   seed an empty database, start nginx on 127.0.0.1:8080'
	@echo '  make down        stop nginx and the services'
	@echo '  make run         up, then follow the logs; Ctrl-C runs make down'
	@echo '  make test        run the test suite (T=t/001-health.t for some files;'
	@echo '                   EVENTLY_ASAN=1 make test with the ASan module)'
	@echo '  make psql        psql on the app database (pipe SQL: echo "select 1" | make -s psql)'
	@echo '  make seed        reload the sample data (sql/seed.sql), flush Redis db 0'
	@echo '  make migrate     apply new migrations and every SQL function file'
	@echo '  make logs        follow the logs of var/log'
	@echo '  make bench       run the benchmark (scripts/bench)'
	@echo '  make docs        regenerate docs/index.html from docs/openapi.yaml'
	@echo '  make clean       remove build/'

setup:
	@$(S)/setup

build:
	@$(S)/build

build-asan:
	@$(S)/build --asan

up:
	@$(S)/up

down:
	@$(S)/down

# Ctrl-C ends tail (foreground); the shell survives it (trap) and runs
# down, and make waits for the shell before it exits.
run:
	@$(S)/up
	@trap : INT TERM; $(S)/logs; $(S)/down

test:
	@$(S)/test $(T)

psql:
	@$(S)/psql

seed:
	@$(S)/seed

logs:
	@$(S)/logs

migrate:
	@$(S)/migrate

bench:
	@$(S)/bench

docs:
	@$(S)/docs

clean:
	rm -rf build
