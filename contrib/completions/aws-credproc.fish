# fish completion for aws-credproc(1)
#
# Commands, options, --credential-source values, and profile names read from
# ${AWS_CONFIG_FILE:-~/.aws/config} ([default], [profile NAME]) and
# ${AWS_SHARED_CREDENTIALS_FILE:-~/.aws/credentials} ([NAME]); no aws CLI call.

function __aws_credproc_profiles
    set -l cfg $AWS_CONFIG_FILE
    test -n "$cfg"; or set cfg $HOME/.aws/config
    set -l cred $AWS_SHARED_CREDENTIALS_FILE
    test -n "$cred"; or set cred $HOME/.aws/credentials
    string match -q -- '~' $cfg; or string match -q -- '~/*' $cfg
    and set cfg $HOME(string sub -s 2 -- $cfg)
    string match -q -- '~' $cred; or string match -q -- '~/*' $cred
    and set cred $HOME(string sub -s 2 -- $cred)
    begin
        if test -r "$cfg" -a ! -d "$cfg"
            awk '/^[ \t]*\[/ {
                s = $0
                sub(/^[ \t]*\[[ \t]*/, "", s)
                if (sub(/[ \t]*\].*$/, "", s) == 0) next
                if (s == "default") print s
                else if (s ~ /^profile[ \t]+[^ \t]/) { sub(/^profile[ \t]+/, "", s); print s }
            }' $cfg 2>/dev/null
        end
        if test -r "$cred" -a ! -d "$cred"
            awk '/^[ \t]*\[/ {
                s = $0
                sub(/^[ \t]*\[[ \t]*/, "", s)
                if (sub(/[ \t]*\].*$/, "", s) == 0) next
                if (s != "") print s
            }' $cred 2>/dev/null
        end
    end | sort -u
end

# The words before the cursor that are not options or their values.
function __aws_credproc_positionals
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    set -l rest 0
    for t in $tokens
        if test $rest -eq 1
            echo -- $t
        else if test $skip -eq 1
            set skip 0
        else
            switch $t
                case --
                    set rest 1
                case -p --profile --role-arn --source-profile --credential-source \
                    --role-session-name --external-id --duration-seconds --region \
                    --timeout --cache-dir --refresh-margin --mfa-serial --policy \
                    --policy-arns --tags --transitive-tag-keys --source-identity
                    set skip 1
                case '--rolesanywhere-*=*'
                case '--rolesanywhere-*'
                    set skip 1
                case '-*'
                case '*'
                    echo -- $t
            end
        end
    end
end

function __aws_credproc_no_command
    test (count (__aws_credproc_positionals)) -eq 0
end

function __aws_credproc_needs_clear
    set -l pos (__aws_credproc_positionals)
    test (count $pos) -eq 1 -a "$pos[1]" = cache
end

complete -c aws-credproc -f

complete -c aws-credproc -n __aws_credproc_no_command -a env -d 'Print shell export lines'
complete -c aws-credproc -n __aws_credproc_no_command -a explain -d 'Show the resolution chain, endpoint, cache file, lifetime left'
complete -c aws-credproc -n __aws_credproc_no_command -a cache -d 'cache clear: remove cache entries'
complete -c aws-credproc -n __aws_credproc_no_command -a exec -d 'exec -- COMMAND: run COMMAND with a credentials endpoint'
complete -c aws-credproc -n __aws_credproc_needs_clear -a clear -d 'Remove the entry of --profile, or every entry'
complete -c aws-credproc -n __aws_credproc_no_command -a list -d 'Every profile: source, role, cached time left'

complete -c aws-credproc -s p -l profile -x -a '(__aws_credproc_profiles)' -d 'Profile to resolve'
complete -c aws-credproc -l role-arn -x -d "Assume this role instead of a profile's role"
complete -c aws-credproc -l source-profile -x -a '(__aws_credproc_profiles)' -d 'Source credentials from this profile'
complete -c aws-credproc -l credential-source -x -a 'Environment Ec2InstanceMetadata EcsContainer' -d 'Source credentials from'
complete -c aws-credproc -l role-session-name -x -d 'Session name of the (last) role'
complete -c aws-credproc -l external-id -x -d 'External id of the (last) role'
complete -c aws-credproc -l duration-seconds -x -d 'Session duration, 900-43200'
complete -c aws-credproc -l mfa-serial -x -d 'MFA device of the (last) role'
complete -c aws-credproc -l policy -x -d 'Session policy JSON of the (last) role'
complete -c aws-credproc -l policy-arns -x -d 'Managed session policies of the (last) role'
complete -c aws-credproc -l tags -x -d 'Session tags KEY=VALUE,... of the (last) role'
complete -c aws-credproc -l transitive-tag-keys -x -d 'Tag keys kept by chained sessions'
complete -c aws-credproc -l source-identity -x -d 'STS SourceIdentity of the (last) role'
# IAM Roles Anywhere
complete -c aws-credproc -l rolesanywhere-certificate -r -F -d 'IAM Roles Anywhere X.509 certificate (PEM or DER)'
complete -c aws-credproc -l rolesanywhere-private-key -r -F -d 'Its private key (PEM file, pkcs11: URI, TPM key)'
complete -c aws-credproc -l rolesanywhere-certificate-chain -r -F -d 'Intermediate CAs (PEM bundle)'
complete -c aws-credproc -l rolesanywhere-trust-anchor-arn -x -d 'Roles Anywhere trust anchor'
complete -c aws-credproc -l rolesanywhere-profile-arn -x -d 'Roles Anywhere profile'
complete -c aws-credproc -l rolesanywhere-role-arn -x -d 'Role of the Roles Anywhere session'
complete -c aws-credproc -l rolesanywhere-session-duration -x -d 'Roles Anywhere session duration, 900-43200'
complete -c aws-credproc -l rolesanywhere-session-name -x -d 'Role session name of the session'
complete -c aws-credproc -l rolesanywhere-pin-file -r -F -d 'PKCS#11 PIN or TPM key password file'
complete -c aws-credproc -l rolesanywhere-pin-command -x -d 'Command printing the PIN'
complete -c aws-credproc -l rolesanywhere-pkcs11-module -r -F -d 'PKCS#11 module'
complete -c aws-credproc -l rolesanywhere-endpoint -x -d 'Roles Anywhere endpoint'
complete -c aws-credproc -l region -x -d 'STS region'
complete -c aws-credproc -l timeout -x -d 'Overall network deadline (default 30)'
complete -c aws-credproc -l cache-dir -x -a '(__fish_complete_directories (commandline -ct))' -d 'Cache directory'
complete -c aws-credproc -l no-cache -d 'Neither read nor write the cache'
complete -c aws-credproc -l json -d 'list: a JSON array instead of the table'
complete -c aws-credproc -l env-only -d 'exec: set the credential variables instead of the endpoint'
complete -c aws-credproc -l refresh-margin -x -d 'Reuse cached credentials only while this much remains'
complete -c aws-credproc -l debug -d 'Trace the resolution on stderr (never secrets)'
complete -c aws-credproc -s h -l help -d 'Show the help'
complete -c aws-credproc -s V -l version -d 'Show the version'
