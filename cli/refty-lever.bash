# bash completion for refty-lever(1).
#
# Installed as share/bash-completion/completions/refty-lever. The commands and
# their options are those of cli/main.c and cli/cmd-*.c; a test compares them
# with every command's --help, so a new option must be added here too.

_refty_lever_global_opts='--config --verbose --quiet --log-format --help --version'
_refty_lever_commands='sync serve webhooks backfill status explain retry check lever refty auth help'
# The global options that also work after the command.
_refty_lever_late_opts='--config --verbose --quiet --log-format'

# The options of one command (and, for lever, refty, auth and webhooks, of its subcommand).
_refty_lever_command_opts()
{
	case $1 in
	sync) echo '--dry-run --json --max-actions --seed --watch --help' ;;
	serve) echo '--listen --poll-interval --json --help' ;;
	backfill) echo '--dry-run --json --rule --since --trigger-current --max-actions --help' ;;
	status) echo '--json --max-age --help' ;;
	explain) echo '--json --help' ;;
	retry) echo '--all --json --help' ;;
	check) echo '--online --json --help' ;;
	lever | refty) echo '--json --help' ;;
	help) echo '--help' ;;
	auth) [[ $2 == login ]] && echo '--paste --help' || echo '--help' ;;
	webhooks)
		case $2 in
		register | delete) echo '--url --dry-run --help' ;;
		list) echo '--json --help' ;;
		*) echo '--url --dry-run --json --help' ;;
		esac
		;;
	esac
}

_refty_lever_subcommands()
{
	case $1 in
	lever) echo 'stages postings' ;;
	refty) echo 'sequences languages' ;;
	auth) echo 'login status logout' ;;
	webhooks) echo 'register list delete' ;;
	help) echo "$_refty_lever_commands" ;;
	esac
}

# The file refty-lever would read: -c, then the same search as conf_find().
_refty_lever_config_file()
{
	if [[ -n $1 ]]; then
		echo "${1/#\~/$HOME}"
	elif [[ -n $REFTY_LEVER_CONFIG ]]; then
		echo "$REFTY_LEVER_CONFIG"
	elif [[ $XDG_CONFIG_HOME == /* && -e $XDG_CONFIG_HOME/refty-lever/config ]]; then
		echo "$XDG_CONFIG_HOME/refty-lever/config"
	elif [[ $XDG_CONFIG_HOME != /* && -n $HOME && -e $HOME/.config/refty-lever/config ]]; then
		echo "$HOME/.config/refty-lever/config"
	else
		echo /etc/refty-lever.conf
	fi
}

# Rule names, one a line, read from the file (and the files it @includes): name = "..."
# appears only in rules. 'refty-lever check' would parse it exactly, but it also reads
# every key, and an api_key_command may be a password manager asking for a passphrase:
# nothing of that may run on a TAB.
_refty_lever_rules_in()
{
	local file=$1 depth=$2 line inc
	[[ -r $file && $depth -lt 8 ]] || return
	local re='(^|[^[:alnum:]_])name[[:space:]]*[=:][[:space:]]*"([^"]*)"'
	local inc_re='^[[:space:]]*@include[[:space:]]+"([^"]*)"'
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|//) ]] && continue
		if [[ $line =~ $inc_re ]]; then
			inc=${BASH_REMATCH[1]}
			[[ $inc != /* && -r ${file%/*}/$inc && $file == */* ]] && inc=${file%/*}/$inc
			_refty_lever_rules_in "$inc" $((depth + 1))
			continue
		fi
		while [[ $line =~ $re ]]; do
			printf '%s\n' "${BASH_REMATCH[2]}"
			line=${line#*"${BASH_REMATCH[0]}"}
		done
	done < "$file"
}

_refty_lever_rules()
{
	_refty_lever_rules_in "$(_refty_lever_config_file "$1")" 0
}

# Offers the lines of $1 that start with $2, one a reply (rule names may hold spaces).
_refty_lever_offer_lines()
{
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$1" -- "$2"))
}

# Offers the space-separated words of $1 that start with $2.
_refty_lever_offer()
{
	_refty_lever_offer_lines "${1// /$'\n'}" "$2"
}

_refty_lever()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	# --opt=value: bash splits it into '--opt' '=' 'value'.
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi

	# Global options may come before or after the command (main.c moves them); the
	# first other word is the command, the next one a subcommand where it has them.
	local i=1 cmd= sub= config= w
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		case $w in
		-c | --config | --log-format)
			[[ ${COMP_WORDS[i+1]} == = ]] && ((i++))
			[[ $w != --log-format ]] && config=${COMP_WORDS[i+1]}
			((i += 2))
			continue
			;;
		--config=*) config=${w#--config=} ;;
		--rule | --since | --max-actions | --max-age | --watch | --listen | --poll-interval | --url)
			((i++)) # its value is no subcommand
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
			elif [[ -z $sub ]]; then
				sub=$w
			fi
			;;
		esac
		((i++))
	done

	case $prev in
	-c | --config)
		compopt -o filenames 2>/dev/null
		local IFS=$'\n'
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--log-format)
		_refty_lever_offer 'text json' "$cur"
		return
		;;
	--rule)
		_refty_lever_offer_lines "$(_refty_lever_rules "$config")" "$cur"
		return
		;;
	--since | --max-actions | --max-age | --watch | --listen | --poll-interval | --url)
		return # a value only the operator knows
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_refty_lever_offer "$_refty_lever_global_opts" "$cur"
		else
			_refty_lever_offer "$_refty_lever_commands" "$cur"
		fi
		return
	fi

	local subs
	subs=$(_refty_lever_subcommands "$cmd")
	if [[ $cur != -* && -n $subs && -z $sub ]]; then
		_refty_lever_offer "$subs" "$cur"
	elif [[ $cur == -* || -z $cur ]]; then
		_refty_lever_offer "$(_refty_lever_command_opts "$cmd" "$sub") $_refty_lever_late_opts" "$cur"
	fi
}

complete -F _refty_lever refty-lever
